package io.attn4j.models.format;

import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Writes embeddings for other tools: {@code .jsonl} (one {@code {"id": ..., "vector": [...]}} per line, floats in
 * their shortest round-trip form) or {@code .npy} (NumPy format 1.0, little-endian float32 {@code [texts, dim]},
 * rows in input order). Files are written whole: to a temporary file, then moved over the target.
 */
public final class EmbeddingFiles {
    private EmbeddingFiles() {
    }

    /**
     * Writes {@code vectors} (all of one length) to {@code out}, the format chosen by its extension.
     *
     * @throws IllegalArgumentException for another extension, a count mismatch, ragged or non-finite vectors
     */
    public static void write(Path out, List<String> ids, float[][] vectors) throws IOException {
        String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (ids.size() != vectors.length) {
            throw new IllegalArgumentException(ids.size() + " ids for " + vectors.length + " vectors");
        }
        int dim = vectors.length == 0 ? 0 : vectors[0].length;
        for (int i = 0; i < vectors.length; i++) {
            if (vectors[i].length != dim) {
                throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length + " values, vector 0 "
                        + dim);
            }
            for (float v : vectors[i]) {
                if (!Float.isFinite(v)) {
                    throw new IllegalArgumentException("vector " + i + " (" + ids.get(i) + ") holds " + v);
                }
            }
        }
        if (name.endsWith(".jsonl")) {
            writeJsonl(out, ids, vectors);
        } else if (name.endsWith(".npy")) {
            writeNpy(out, vectors, dim);
        } else {
            throw new IllegalArgumentException("output file " + out + "; allowed: a .jsonl or .npy file name");
        }
    }

    private static void writeJsonl(Path out, List<String> ids, float[][] vectors) throws IOException {
        AtomicFiles.write(out, channel -> {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < vectors.length; i++) {
                line.setLength(0);
                line.append("{\"id\":").append(Json.quote(ids.get(i))).append(",\"vector\":[");
                for (int c = 0; c < vectors[i].length; c++) {
                    line.append(c == 0 ? "" : ",").append(vectors[i][c]);
                }
                line.append("]}\n");
                AtomicFiles.writeFully(channel, ByteBuffer.wrap(line.toString().getBytes(StandardCharsets.UTF_8)));
            }
        });
    }

    /** NumPy's format 1.0: magic, version, header length, a Python dict literal padded to 64 bytes, the data. */
    private static void writeNpy(Path out, float[][] vectors, int dim) throws IOException {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + vectors.length + ", " + dim + "), }";
        int unpadded = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        head.putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII)).flip();
        AtomicFiles.write(out, channel -> {
            AtomicFiles.writeFully(channel, head);
            ByteBuffer row = ByteBuffer.allocate(4 * dim).order(ByteOrder.LITTLE_ENDIAN);
            for (float[] v : vectors) {
                row.clear();
                row.asFloatBuffer().put(v);
                AtomicFiles.writeFully(channel, row);
            }
        });
    }
}
