package io.attn4j.bench.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.attn4j.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime's CPU attention operator at one fixed shape: the native peer that {@code compare} times against
 * attn4j's {@code flash}. Never used by attn4j's runtime.
 *
 * <p><b>The operator.</b> A one-node graph ({@link OnnxGraphWriter}) of either
 * <ul>
 *   <li>{@link Operator#MULTI_HEAD_ATTENTION}: the contrib operator {@code com.microsoft.MultiHeadAttention}.
 *       It copies Q, K and V into BNSH; then, without a mask, ORT 1.29 runs MLAS's tiled FlashAttention kernel ({@code MlasFlashAttention}:
 *       online softmax, no {@code Lq × Lk} score matrix). With {@code unidirectional = 1} or an attention bias it
 *       falls back to materialising all {@code B·H·Lq·Lk} scores: a mask copied into every head's score matrix, a
 *       GEMM per head, one softmax pass over all of them, a second GEMM per head.</li>
 *   <li>{@link Operator#ATTENTION}: the standard ONNX {@code Attention} (opset 23). ORT 1.29's CPU kernel always
 *       materialises the scores, but per head in one task (GEMM reading Q and K in place through strides, mask
 *       folded into the GEMM, softmax of that head, GEMM with V), so a head's scores are produced and consumed
 *       together.</li>
 * </ul>
 * {@link #OrtAttention(int, int, int, int, int, boolean, float, int)} takes MultiHeadAttention, ORT's fastest CPU
 * path: noncausal, its flash kernel is the only one that does not materialise the scores, and it took 0.55–0.81x
 * Attention's time; causal, where both materialise them, it still took 0.72–0.93x (self-attention, B = 1, H = 8,
 * D = 64, n = 1024 and 4096, 2 threads, three interleaved runs of {@link OrtAttentionTiming} on a 2-core machine);
 * with the additive mask of {@code Lq ≠ Lk} the two were within 15% ({@code 512 × 2048}, {@code 1024 × 4096},
 * {@code 1000 × 1024}). Under heavy load from other processes (load average 4–9 on the 2 cores) single runs
 * reversed the order, by up to 1.45x at n = 1024 and, causal, 1.4x at 4096. The exception is causal with more queries than keys: the first
 * {@code Lq − Lk} queries see no key, and attn4j gives them zeros, as Attention does, where MultiHeadAttention's
 * softmax gives NaN; that case takes Attention (and MultiHeadAttention is refused there).
 *
 * <p><b>Causal alignment.</b> attn4j's causal mask is bottom-right aligned: query {@code i} sees keys
 * {@code j ≤ i + Lk − Lq}. The operators' own flags agree only when {@code Lq = Lk}: measured on ORT 1.29,
 * {@code Attention}'s {@code is_causal} is top-left aligned ({@code j ≤ i}), and {@code MultiHeadAttention}'s
 * {@code unidirectional} masks {@code j > i} on every row but the last, which sees every key. So
 * <ul>
 *   <li>{@code Lq = Lk}: the operator's flag ({@code unidirectional = 1}, {@code is_causal = 1});</li>
 *   <li>{@code Lq = 1}: no mask (the one query sees every key);</li>
 *   <li>otherwise: an additive mask of 0 and −∞, {@code [Lq, Lk]}, built once here and fed to every run
 *       ({@code attention_bias [1, 1, Lq, Lk]} of MultiHeadAttention, {@code attn_mask [Lq, Lk]} of
 *       Attention).</li>
 * </ul>
 *
 * <p><b>Layout.</b> attn4j's BSHD {@code [B, L, H, D]} is, byte for byte, the {@code [B, L, H·D]} "hidden" layout
 * both operators take; the output {@code [B, Lq, H·D]} is read back as {@code [B, Lq, H, D]}. MultiHeadAttention's
 * copies into BNSH are part of what it costs; Attention reads the heads in place.
 *
 * <p><b>What a call costs.</b> The inputs, the mask and the output live in direct buffers allocated once and
 * handed to ORT as tensors (inputs) and pinned outputs (ORT writes the result into the buffer; nothing is
 * allocated per run on the Java side). {@link #prepare} copies attn4j tensors into the input buffers (a
 * {@code memcpy} each); {@link #run()} runs the session on them and is what a benchmark times: the operator plus
 * ORT's per-run overhead (binding, dispatch: the whole {@code run()} takes 3–6 µs at
 * {@code 1 × 1 × 1 × 8}). {@link #forward} is prepare + run + a copy of the
 * output into a new tensor, for tests.
 *
 * <p>The session is configured like {@link OrtEncoder}'s: all graph optimisations, {@code threads} intra-op
 * threads, one inter-op thread, sequential execution. Not thread-safe: one caller at a time.
 */
public final class OrtAttention implements AutoCloseable {
    /** Which ORT operator the graph holds. */
    public enum Operator {
        /** {@code com.microsoft.MultiHeadAttention} (contrib, opset 1 of {@code com.microsoft}). */
        MULTI_HEAD_ATTENTION,
        /** The standard ONNX {@code Attention} (opset 23). */
        ATTENTION
    }

    /** How the causal mask reaches the operator. */
    public enum Masking {
        /** Every key visible. */
        NONE,
        /** The operator's own causal flag ({@code Lq = Lk}). */
        OPERATOR_FLAG,
        /** An additive {@code [Lq, Lk]} input of 0 and −∞, bottom-right aligned. */
        ADDITIVE_MASK
    }

    private static final String MASK = "mask";

    private final Operator operator;
    private final Masking masking;
    private final int batch, queries, keys, heads, headDim;
    private final boolean causal;
    private final float scale;
    private final int threads;
    private final byte[] model;

    private final OrtEnvironment env;
    private final OrtSession session;
    private final FloatBuffer q, k, v, out;
    private final Map<String, OnnxTensor> feed = new LinkedHashMap<>();
    private final OnnxTensor output;
    private final Map<String, OnnxTensor> pinned;
    private boolean prepared;
    private boolean ran;

    /**
     * ORT's fastest CPU operator that computes the call (see the class comment): MultiHeadAttention, or Attention
     * for causal attention with more queries than keys.
     *
     * @param scale   the logit scale, finite and non-zero; {@code Float.NaN} for {@code 1/√headDim}
     * @param threads ORT's intra-op threads
     */
    public OrtAttention(int batch, int queries, int keys, int heads, int headDim, boolean causal, float scale,
                        int threads) {
        this(causal && queries > keys ? Operator.ATTENTION : Operator.MULTI_HEAD_ATTENTION,
                batch, queries, keys, heads, headDim, causal, scale, threads);
    }

    /**
     * The given operator.
     *
     * @param scale   the logit scale, finite and non-zero; {@code Float.NaN} for {@code 1/√headDim}
     * @param threads ORT's intra-op threads
     * @throws IllegalArgumentException      for a size below 1, tensors too large for one buffer, a bad scale,
     *                                       or a case the operator cannot compute
     * @throws UnsupportedOperationException if the installed ONNX Runtime cannot build the operator
     */
    public OrtAttention(Operator operator, int batch, int queries, int keys, int heads, int headDim, boolean causal,
                        float scale, int threads) {
        if (operator == null) {
            throw new IllegalArgumentException("operator is null; allowed: " + Arrays.toString(Operator.values()));
        }
        if (batch < 1 || queries < 1 || keys < 1 || heads < 1 || headDim < 1) {
            throw new IllegalArgumentException("batch = " + batch + ", queries = " + queries + ", keys = " + keys
                    + ", heads = " + heads + ", headDim = " + headDim + "; allowed: every size >= 1");
        }
        if (threads < 1) {
            throw new IllegalArgumentException("threads = " + threads + "; allowed: >= 1");
        }
        if (!Float.isNaN(scale) && (!Float.isFinite(scale) || scale == 0f)) {
            throw new IllegalArgumentException("scale = " + scale + "; allowed: finite and non-zero, or NaN for 1/√D");
        }
        long width = (long) heads * headDim;
        // the largest buffer: Q or K/V, or the [Lq, Lk] mask of a causal call
        long largest = Math.max(Math.max(queries, keys) * (long) batch * width, causal ? (long) queries * keys : 0);
        if (largest > Integer.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("shape B = " + batch + ", Lq = " + queries + ", Lk = " + keys
                    + ", H = " + heads + ", D = " + headDim + " needs a buffer of " + largest + " floats; one direct "
                    + "buffer holds at most " + Integer.MAX_VALUE / Float.BYTES);
        }
        this.operator = operator;
        this.batch = batch;
        this.queries = queries;
        this.keys = keys;
        this.heads = heads;
        this.headDim = headDim;
        this.causal = causal;
        this.scale = Float.isNaN(scale) ? (float) (1 / Math.sqrt(headDim)) : scale;
        this.threads = threads;
        if (!causal || queries == 1) {
            masking = Masking.NONE;
        } else if (queries == keys) {
            masking = Masking.OPERATOR_FLAG;
        } else {
            masking = Masking.ADDITIVE_MASK;
        }
        if (operator == Operator.MULTI_HEAD_ATTENTION && causal && queries > keys) {
            throw new IllegalArgumentException("causal attention with " + queries + " queries over " + keys
                    + " keys leaves the first " + (queries - keys) + " queries without a visible key; "
                    + "MultiHeadAttention's softmax gives NaN there where attn4j gives 0: use Operator.ATTENTION");
        }
        this.model = graph();

        this.env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            this.session = env.createSession(model, options);
        } catch (OrtException e) {
            throw new UnsupportedOperationException("ONNX Runtime " + env.getVersion() + " cannot build " + describe()
                    + ": " + e.getMessage(), e);
        }
        q = direct((long) batch * queries * width);
        k = direct((long) batch * keys * width);
        v = direct((long) batch * keys * width);
        out = direct((long) batch * queries * width);
        OnnxTensor o = null;
        try {
            feed.put("query", OnnxTensor.createTensor(env, q, new long[] {batch, queries, width}));
            feed.put("key", OnnxTensor.createTensor(env, k, new long[] {batch, keys, width}));
            feed.put("value", OnnxTensor.createTensor(env, v, new long[] {batch, keys, width}));
            if (masking == Masking.ADDITIVE_MASK) {
                FloatBuffer mask = direct((long) queries * keys);
                for (int i = 0; i < queries; i++) {
                    for (int j = 0; j < keys; j++) {
                        mask.put(i * keys + j, j <= i + keys - queries ? 0f : Float.NEGATIVE_INFINITY);
                    }
                }
                feed.put(MASK, OnnxTensor.createTensor(env, mask, maskShape()));
            }
            o = OnnxTensor.createTensor(env, out, new long[] {batch, queries, width});
        } catch (OrtException e) {
            close();
            throw new IllegalStateException("ONNX Runtime cannot wrap the input buffers: " + e.getMessage(), e);
        }
        this.output = o;
        this.pinned = Map.of("output", output);
    }

    /** The ONNX model this instance runs (for inspection and tests). */
    public byte[] model() {
        return model.clone();
    }

    public Operator operator() {
        return operator;
    }

    public Masking masking() {
        return masking;
    }

    public int threads() {
        return threads;
    }

    /** The logit scale given to the operator (resolved when {@code NaN} was passed). */
    public float scale() {
        return scale;
    }

    /**
     * Copies {@code q [B, Lq, H, D]}, {@code k} and {@code v [B, Lk, H, D]} (contiguous heap tensors) into the
     * input buffers, for {@link #run()}.
     *
     * @throws IllegalArgumentException naming the tensor, its shape and the shape expected
     */
    public void prepare(Tensor q, Tensor k, Tensor v) {
        check("q", q, queries);
        check("k", k, keys);
        check("v", v, keys);
        this.q.put(0, q.array(), q.arrayOffset(), this.q.capacity());
        this.k.put(0, k.array(), k.arrayOffset(), this.k.capacity());
        this.v.put(0, v.array(), v.arrayOffset(), this.v.capacity());
        prepared = true;
    }

    /**
     * Runs the operator on the inputs of the last {@link #prepare}, writing the output buffer. No Java-side copy or
     * allocation beyond ORT's own result handle: this is the call to time.
     */
    public void run() {
        if (!prepared) {
            throw new IllegalStateException("run() before prepare(q, k, v): no inputs");
        }
        try (OrtSession.Result ignored = session.run(feed, pinned)) {
            ran = true;
        } catch (OrtException e) {
            throw new UnsupportedOperationException("ONNX Runtime " + env.getVersion() + " failed to run "
                    + describe() + ": " + e.getMessage(), e);
        }
    }

    /** A copy of the output of the last {@link #run()}, {@code [B, Lq, H, D]}. */
    public Tensor output() {
        if (!ran) {
            throw new IllegalStateException("output() before run(): no output");
        }
        float[] data = new float[out.capacity()];
        out.get(0, data);
        return Tensor.of(data, batch, queries, heads, headDim);
    }

    /** {@link #prepare}, {@link #run()}, {@link #output()}: attention of {@code q} over {@code k}, {@code v}. */
    public Tensor forward(Tensor q, Tensor k, Tensor v) {
        prepare(q, k, v);
        run();
        return output();
    }

    @Override
    public void close() {
        feed.values().forEach(OnnxTensor::close);
        if (output != null) {
            output.close();
        }
        if (session != null) {
            try {
                session.close();
            } catch (OrtException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Override
    public String toString() {
        return "OrtAttention[" + describe() + ", threads=" + threads + "]";
    }

    private String describe() {
        return (operator == Operator.ATTENTION ? "ONNX Attention (opset 23)" : "com.microsoft.MultiHeadAttention")
                + " B=" + batch + " Lq=" + queries + " Lk=" + keys + " H=" + heads + " D=" + headDim
                + (causal ? " causal (" + masking + ")" : " noncausal") + " scale=" + scale;
    }

    private long[] maskShape() {
        return operator == Operator.MULTI_HEAD_ATTENTION ? new long[] {1, 1, queries, keys}
                : new long[] {queries, keys};
    }

    private byte[] graph() {
        long width = (long) heads * headDim;
        List<String> inputs = new ArrayList<>(List.of("query", "key", "value"));
        Map<String, Number> attributes = new LinkedHashMap<>();
        OnnxGraphWriter writer;
        if (operator == Operator.MULTI_HEAD_ATTENTION) {
            // inputs: query, key, value, bias, key_padding_mask, attention_bias, ...
            writer = new OnnxGraphWriter("attn4j_multi_head_attention", 10).opset("", 21).opset("com.microsoft", 1);
            attributes.put("num_heads", (long) heads);
            attributes.put("scale", scale);
            if (masking == Masking.OPERATOR_FLAG) {
                attributes.put("unidirectional", 1L);
            }
            if (masking == Masking.ADDITIVE_MASK) {
                inputs.addAll(List.of("", "", MASK));
            }
        } else {
            // inputs: Q, K, V, attn_mask, past_key, past_value
            writer = new OnnxGraphWriter("attn4j_attention", 11).opset("", 23);
            attributes.put("q_num_heads", (long) heads);
            attributes.put("kv_num_heads", (long) heads);
            attributes.put("scale", scale);
            if (masking == Masking.OPERATOR_FLAG) {
                attributes.put("is_causal", 1L);
            }
            if (masking == Masking.ADDITIVE_MASK) {
                inputs.add(MASK);
            }
        }
        writer.input("query", batch, queries, width).input("key", batch, keys, width).input("value", batch, keys, width);
        if (masking == Masking.ADDITIVE_MASK) {
            writer.input(MASK, maskShape());
        }
        writer.output("output", batch, queries, width);
        writer.node("attention", operator == Operator.ATTENTION ? "Attention" : "MultiHeadAttention",
                operator == Operator.ATTENTION ? "" : "com.microsoft", inputs, List.of("output"), attributes);
        return writer.toByteArray();
    }

    private void check(String name, Tensor t, int length) {
        int[] expected = {batch, length, heads, headDim};
        if (t == null) {
            throw new IllegalArgumentException(name + " is null; expected a contiguous heap tensor of shape "
                    + Arrays.toString(expected) + " [B, L, H, D]");
        }
        if (!Arrays.equals(t.shape(), expected) || !t.isHeap() || !t.isContiguous()) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(t.shape())
                    + (t.isHeap() ? "" : ", in a MemorySegment") + (t.isContiguous() ? "" : ", not contiguous")
                    + "; expected a contiguous heap tensor of shape " + Arrays.toString(expected)
                    + " [B, L, H, D] (BSHD)");
        }
    }

    private static FloatBuffer direct(long floats) {
        return ByteBuffer.allocateDirect(Math.toIntExact(floats * Float.BYTES)).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
    }
}
