package io.attn4j.models.format;

import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Files over 2 GB: offsets past {@code Integer.MAX_VALUE} in both readers. The files are sparse (only their first
 * and last bytes are written), so they take no disk space and only the touched pages are read.
 */
class LargeFileTest {
    /** 600 M floats: 2.4 GB of tensor data. */
    static final int ELEMENTS = 600_000_000;
    static final long BYTES = 4L * ELEMENTS;

    @TempDir
    Path dir;

    private static void writeSparse(Path file, byte[] head, long tailOffset, byte[] tail) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(head), 0);
            channel.write(ByteBuffer.wrap(tail), tailOffset);
        }
    }

    @Test
    void safetensorsPast2GB() throws IOException {
        String header = "{\"small\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"big\":{\"dtype\":\"F32\",\"shape\":[" + ELEMENTS + "],\"data_offsets\":[4," + (4 + BYTES) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] head = ByteBuffer.allocate(8 + h.length + 4).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(h.length).put(h).putFloat(1.5f).array();
        Path file = dir.resolve("big.safetensors");
        long dataStart = 8 + h.length;
        writeSparse(file, head, dataStart + 4 + BYTES - 4, Onnx.floatBytes(-2.5f));
        try (SafeTensors st = SafeTensors.open(file)) {
            Tensor big = st.tensor("big");
            assertFalse(big.isHeap());
            assertEquals(ELEMENTS, big.size(0));
            assertEquals(-2.5f, big.get(ELEMENTS - 1));
            assertEquals(0f, big.get(ELEMENTS / 2));
            assertEquals(1.5f, st.tensor("small").get(0));
        }
    }

    @Test
    void onnxPast2GB() throws IOException {
        // ModelProto { graph { initializer { dims, data_type FLOAT, name "big", raw_data <2.4 GB> } node {...} } }
        byte[] tensorHead = new Proto().varint(1, ELEMENTS).varint(2, Onnx.FLOAT).string(8, "big")
                .key(9, 2).raw(Proto.varintBytes(BYTES)).toByteArray();
        byte[] node = new Proto().message(1, Onnx.node("Identity", "after", new String[] {"big"}, new String[] {"out"}))
                .toByteArray();
        long tensorLength = tensorHead.length + BYTES;
        byte[] graphHead = new Proto().key(5, 2).raw(Proto.varintBytes(tensorLength)).toByteArray();
        long graphLength = graphHead.length + tensorLength + node.length;
        byte[] modelHead = new Proto().varint(1, 8).key(7, 2).raw(Proto.varintBytes(graphLength)).toByteArray();
        byte[] head = ByteBuffer.allocate(modelHead.length + graphHead.length + tensorHead.length)
                .put(modelHead).put(graphHead).put(tensorHead).array();
        byte[] tail = ByteBuffer.allocate(4 + node.length).put(Onnx.floatBytes(7f)).put(node).array();
        Path file = dir.resolve("big.onnx");
        writeSparse(file, head, head.length + BYTES - 4, tail);
        try (OnnxModel model = OnnxModel.open(file)) {
            Tensor big = model.initializer("big").toFloat();
            assertFalse(big.isHeap());
            assertEquals(7f, big.get(ELEMENTS - 1));
            assertEquals("after", model.nodes().get(0).name()); // read from past the 2 GB of raw data
        }
    }
}
