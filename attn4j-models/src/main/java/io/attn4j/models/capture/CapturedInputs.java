package io.attn4j.models.capture;

import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.models.format.SafeTensors;
import io.attn4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A capture directory ({@link Capture}) opened as the {@code captured} standard input: real Q, K and V of every
 * layer and head of an encoder over real texts.
 *
 * <p><b>Checked when opened.</b> The index ({@link CaptureIndex#read}), then every text's file: present, a valid
 * safetensors file whose metadata names the same model and text, holding exactly the tensors
 * {@code layer.<l>.q|k|v} for every layer, each F32 of shape {@code [tokens, heads, head_dim]} as the index says,
 * every value finite. Anything else is an {@link IllegalArgumentException} naming the file, the tensor and what was
 * expected. The files stay mapped until {@link #close()}.
 *
 * <p><b>Inputs</b> ({@link #inputs(InputShape)}): batch element {@code b} is layer {@code b mod L} of text
 * {@code ⌊b / L⌋ mod T}, where {@code L} is the number of layers and {@code T} the number of texts with at least
 * {@code Lk} tokens, taken in index order — so a batch of {@code L} holds every layer of the first text. Keys and
 * values are the text's first {@code Lk} tokens; queries are the last {@code Lq} of those (bottom-right aligned, as
 * the attention API places them), so {@code Lq = Lk} is the encoder's own self-attention and {@code Lq = 1} a
 * decode step at the last token. The tensors are new heap copies, {@code [B, L, heads, headDim]} (BSHD). The model's
 * logit scale is {@link CaptureIndex#scale()}.
 */
public final class CapturedInputs implements AutoCloseable {
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path directory;
    private final CaptureIndex index;
    private final List<SafeTensors> files;

    private CapturedInputs(Path directory, CaptureIndex index, List<SafeTensors> files) {
        this.directory = directory;
        this.index = index;
        this.files = files;
    }

    /**
     * Opens and checks a capture directory (see the class comment).
     *
     * @throws IllegalArgumentException if anything in it is missing, malformed or not finite
     * @throws IOException              if a file cannot be read
     */
    public static CapturedInputs open(Path directory) throws IOException {
        CaptureIndex index = CaptureIndex.read(directory);
        List<SafeTensors> files = new ArrayList<>();
        try {
            for (CaptureIndex.Entry text : index.texts()) {
                files.add(openText(directory, index, text));
            }
        } catch (Throwable t) {
            files.forEach(SafeTensors::close);
            throw t;
        }
        return new CapturedInputs(directory, index, List.copyOf(files));
    }

    private static SafeTensors openText(Path directory, CaptureIndex index, CaptureIndex.Entry text)
            throws IOException {
        Path path = directory.resolve(text.file());
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(path + " is missing (the file of text '" + text.id() + "' in "
                    + CaptureIndex.FILE + "); the capture is incomplete: create it again with ./attn4j capture");
        }
        SafeTensors st;
        try {
            st = SafeTensors.open(path);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(path + " is not a valid safetensors file: " + e.getMessage(), e);
        }
        try {
            check(path, st, index, text);
        } catch (Throwable t) {
            st.close();
            throw t;
        }
        return st;
    }

    private static void check(Path path, SafeTensors st, CaptureIndex index, CaptureIndex.Entry text) {
        String textId = st.metadata().get("text_id"), model = st.metadata().get("model");
        if (!text.id().equals(textId) || !index.model().equals(model)) {
            throw new IllegalArgumentException(path + ": metadata names text '" + textId + "' of model '" + model
                    + "'; " + CaptureIndex.FILE + " expects text '" + text.id() + "' of model '" + index.model() + "'");
        }
        Set<String> expected = new TreeSet<>();
        for (int l = 0; l < index.layers(); l++) {
            for (char which : new char[] {'q', 'k', 'v'}) {
                expected.add(CaptureIndex.tensorName(l, which));
            }
        }
        Set<String> missing = new TreeSet<>(expected);
        missing.removeAll(st.tensors().keySet());
        Set<String> extra = new TreeSet<>(st.tensors().keySet());
        extra.removeAll(expected);
        if (!missing.isEmpty() || !extra.isEmpty()) {
            throw new IllegalArgumentException(path + ": " + (missing.isEmpty() ? "" : "missing tensors " + missing)
                    + (missing.isEmpty() || extra.isEmpty() ? "" : ", ") + (extra.isEmpty() ? "" : "unexpected tensors "
                    + extra) + "; expected layer.<l>.q, .k and .v for l = 0 … " + (index.layers() - 1));
        }
        int[] shape = {text.tokens(), index.heads(), index.headDim()};
        for (String name : expected) {
            SafeTensors.TensorInfo info = st.info(name);
            if (info.dtype() != SafeTensors.Dtype.F32 || !Arrays.equals(info.shape(), shape)) {
                throw new IllegalArgumentException(path + ": tensor '" + name + "' is " + info.dtype() + " "
                        + Arrays.toString(info.shape()) + "; expected F32 " + Arrays.toString(shape)
                        + " (tokens, heads, head_dim of " + CaptureIndex.FILE + ")");
            }
            int[] at = st.tensor(name).firstNonFinite();
            if (at != null) {
                throw new IllegalArgumentException(path + ": tensor '" + name + "' holds " + st.tensor(name).get(at)
                        + " at " + Arrays.toString(at) + "; captured values must be finite");
            }
        }
    }

    /** The directory this capture was read from. */
    public Path directory() {
        return directory;
    }

    /** The index: model, shape, texts. */
    public CaptureIndex index() {
        return index;
    }

    /**
     * Q, K and V of one layer of one text.
     *
     * @param q {@code [tokens, heads, headDim]}, unscaled
     * @param k {@code [tokens, heads, headDim]}
     * @param v {@code [tokens, heads, headDim]}
     */
    public record Layer(Tensor q, Tensor k, Tensor v) {
    }

    /**
     * Layer {@code layer} of text {@code text} (index order) as views of the mapped file, valid until
     * {@link #close()}; {@link Tensor#toHeap()} copies them for the attention kernels.
     *
     * @throws IllegalArgumentException if either index is out of range
     */
    public Layer layer(int text, int layer) {
        if (text < 0 || text >= files.size() || layer < 0 || layer >= index.layers()) {
            throw new IllegalArgumentException("text " + text + ", layer " + layer + "; allowed: text 0 to "
                    + (files.size() - 1) + ", layer 0 to " + (index.layers() - 1));
        }
        SafeTensors st = files.get(text);
        return new Layer(st.tensor(CaptureIndex.tensorName(layer, 'q')), st.tensor(CaptureIndex.tensorName(layer, 'k')),
                st.tensor(CaptureIndex.tensorName(layer, 'v')));
    }

    /** Self-attention inputs: {@code batch} sequences of {@code length} tokens with the capture's heads. */
    public AttentionInputs inputs(int length, int batch) {
        return inputs(InputShape.self(batch, length, index.heads(), index.heads(), index.headDim()));
    }

    /**
     * Inputs of {@code shape} (see the class comment for which text and layer each batch element is).
     *
     * @throws IllegalArgumentException if the heads or dimensions differ from the capture's, queries outnumber
     *                                  keys, or the key length exceeds the longest captured text
     *                                  ({@link CaptureIndex#checkShape})
     */
    public AttentionInputs inputs(InputShape shape) {
        index.checkShape(shape);
        int lq = shape.queryLength(), lk = shape.keyLength(), layers = index.layers();
        List<Integer> eligible = new ArrayList<>();
        for (int t = 0; t < index.texts().size(); t++) {
            if (index.texts().get(t).tokens() >= lk) {
                eligible.add(t);
            }
        }
        Tensor q = Tensor.zeros(shape.batch(), lq, shape.heads(), shape.headDim());
        Tensor k = Tensor.zeros(shape.batch(), lk, shape.kvHeads(), shape.headDim());
        Tensor v = Tensor.zeros(shape.batch(), lk, shape.kvHeads(), shape.valueDim());
        int row = shape.heads() * shape.headDim(); // floats per token
        for (int b = 0; b < shape.batch(); b++) {
            int text = eligible.get(b / layers % eligible.size()), layer = b % layers;
            SafeTensors st = files.get(text);
            // tensors are [tokens, heads, headDim] row-major: tokens [from, to) are one run of floats
            copyRows(st.rawData(CaptureIndex.tensorName(layer, 'q')), lk - lq, lq, row, q.array(), b * lq * row);
            copyRows(st.rawData(CaptureIndex.tensorName(layer, 'k')), 0, lk, row, k.array(), b * lk * row);
            copyRows(st.rawData(CaptureIndex.tensorName(layer, 'v')), 0, lk, row, v.array(), b * lk * row);
        }
        return new AttentionInputs("captured", 0, shape, q, k, v, List.of());
    }

    private static void copyRows(MemorySegment tensor, int fromToken, int tokens, int row, float[] dst, int at) {
        MemorySegment.copy(tensor, FLOAT_LE, (long) fromToken * row * Float.BYTES, dst, at, tokens * row);
    }

    /** Unmaps the files; tensors from {@link #layer} must not be read afterwards. */
    @Override
    public void close() {
        files.forEach(SafeTensors::close);
    }

    @Override
    public String toString() {
        return "capture " + directory + " (" + index.model() + ", " + index.texts().size() + " texts of up to "
                + index.longestText() + " tokens, " + index.describeShape() + ")";
    }
}
