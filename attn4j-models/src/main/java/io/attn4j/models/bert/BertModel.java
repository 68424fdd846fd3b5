package io.attn4j.models.bert;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.linalg.Gemm;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;

import java.util.List;

/**
 * A BERT-family encoder (Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
 * Understanding", 2019) in pure Java, with any attention mechanism of the catalog in any layer and head.
 *
 * <p><b>Forward pass.</b> The texts of a batch are packed end to end: {@code T} tokens in all, no padding. Token,
 * position and type embeddings are summed and normalised; then each post-LN layer runs
 * <pre>
 *   qkv = x·W_qkvᵀ + b          one GEMM for the three projections, [T, 3H]
 *   ctx = attention(q, k, v)     per head group, through the core API, the mask confining each text to itself
 *   x   = LN(x + ctx·W_oᵀ + b_o)
 *   x   = LN(x + GELU(x·W_1ᵀ + b_1)·W_2ᵀ + b_2)
 * </pre>
 * Q, K and V are strided views of the {@code qkv} buffer, so nothing is copied into heads. Attention runs text by
 * text on views of the packed rows (each call parallel over heads and query blocks): no work on padding, no text
 * sees another, and no tile straddles two texts — a {@link io.attn4j.attention.Masks#documents documents} mask over
 * the whole batch would compute the partial tiles at every boundary — and every mechanism sees each text as the
 * sequence its budgets are defined on. Projections are {@link Gemm}s over weights packed at load; layer norms,
 * residuals and GELU run row-parallel with SIMD.
 *
 * <p><b>Pooling.</b> Mean over each text's tokens (special tokens included, as sentence-transformers does with its
 * attention mask) or the first token, then optional L2 normalisation, as the {@link BertConfig} says.
 *
 * <p>Instances are immutable; calls allocate their activation buffers ({@code T · (6H + I)} floats) and may run
 * concurrently.
 */
public final class BertModel {
    private static final int ROWS_PER_TASK = 32;

    private final BertConfig config;
    private final BertWeights weights;
    private final List<List<AttentionPlan.HeadGroup>> plan;
    private final AttentionPlan attention;
    private final Engine engine;

    /** Sees the activations of a forward pass (parity tests, the capture command); the default sees nothing. */
    public interface Observer {
        /** The hidden states after layer {@code layer} (−1: after the embeddings), {@code [T, H]}, texts packed. */
        default void hidden(int layer, float[] states, int[] offsets) {
        }

        /** The inputs of layer {@code layer}'s attention: {@code [1, T, heads, headDim]} views, texts packed. */
        default void attentionInputs(int layer, Tensor q, Tensor k, Tensor v, int[] offsets) {
        }
    }

    /** The last hidden states of a batch, {@code [T, H]}, and where each text starts ({@code offsets[b]}). */
    public record Hidden(float[] states, int[] offsets) {
    }

    public BertModel(BertConfig config, BertWeights weights, AttentionPlan attention, Engine engine) {
        if (weights.layers.size() != config.layers()) {
            throw new IllegalArgumentException("weights have " + weights.layers.size() + " layers, the config "
                    + config.layers());
        }
        this.config = config;
        this.weights = weights;
        this.attention = attention;
        this.engine = engine;
        this.plan = attention.resolve(config.layers(), config.heads(), engine);
    }

    public BertConfig config() {
        return config;
    }

    public AttentionPlan attention() {
        return attention;
    }

    /** The same weights with another attention plan (weights are shared, not copied). */
    public BertModel withAttention(AttentionPlan newPlan) {
        return new BertModel(config, weights, newPlan, engine);
    }

    /** The same model on another engine. */
    public BertModel withEngine(Engine newEngine) {
        return new BertModel(config, weights, attention, newEngine);
    }

    public long weightBytes() {
        return weights.bytes();
    }

    /**
     * One embedding per text: token ids with their special tokens (as a tokenizer produces them), type ids
     * ({@code null} for all zeros).
     */
    public float[][] embed(int[][] ids, int[][] typeIds) {
        Hidden h = forward(ids, typeIds, new Observer() { });
        return pool(h);
    }

    /** Pools and (if the config says so) normalises the hidden states of each text. */
    public float[][] pool(Hidden h) {
        return config.pooling().apply(h.states(), h.offsets(), config.hidden(), config.normalize());
    }

    /** The last hidden states of a batch, reporting activations to {@code observer}. */
    public Hidden forward(int[][] ids, int[][] typeIds, Observer observer) {
        int[] offsets = checkInput(ids, typeIds);
        int tokens = offsets[offsets.length - 1];
        int h = config.hidden(), inter = config.intermediate(), heads = config.heads(), d = config.headDim();
        float[] x = new float[tokens * h], qkv = new float[tokens * 3 * h], ctx = new float[tokens * h];
        float[] tmp = new float[tokens * h], mid = new float[tokens * inter];
        embeddings(ids, typeIds, offsets, x);
        observer.hidden(-1, x, offsets);

        Tensor all = Tensor.of(qkv, 1, tokens, 3, heads, d);
        Tensor q = all.select(2, 0), k = all.select(2, 1), v = all.select(2, 2);
        Tensor out = Tensor.of(ctx, 1, tokens, heads, d);
        AttentionSpec spec = AttentionSpec.noncausal().checkFinite(false);
        for (int l = 0; l < config.layers(); l++) {
            BertWeights.Layer w = weights.layers.get(l);
            Gemm.multiply(engine, x, 0, h, tokens, w.qkv(), w.qkvBias(), qkv, 0, 3 * h);
            observer.attentionInputs(l, q, k, v, offsets);
            for (int b = 0; b + 1 < offsets.length; b++) {
                int from = offsets[b], to = offsets[b + 1];
                for (AttentionPlan.HeadGroup g : plan.get(l)) {
                    g.mechanism().forward(
                            q.slice(1, from, to).slice(2, g.from(), g.to()),
                            k.slice(1, from, to).slice(2, g.from(), g.to()),
                            v.slice(1, from, to).slice(2, g.from(), g.to()), spec,
                            out.slice(1, from, to).slice(2, g.from(), g.to()));
                }
            }
            Gemm.multiply(engine, ctx, 0, h, tokens, w.attentionOut(), w.attentionOutBias(), tmp, 0, h);
            residualNorm(tmp, x, w.attentionNormGamma(), w.attentionNormBeta(), tokens);
            Gemm.multiply(engine, x, 0, h, tokens, w.ffnIn(), w.ffnInBias(), mid, 0, inter);
            gelu(mid, tokens, inter);
            Gemm.multiply(engine, mid, 0, inter, tokens, w.ffnOut(), w.ffnOutBias(), tmp, 0, h);
            residualNorm(tmp, x, w.ffnNormGamma(), w.ffnNormBeta(), tokens);
            observer.hidden(l, x, offsets);
        }
        return new Hidden(x, offsets);
    }

    private int[] checkInput(int[][] ids, int[][] typeIds) {
        if (ids == null || ids.length == 0) {
            throw new IllegalArgumentException("no texts to encode");
        }
        if (typeIds != null && typeIds.length != ids.length) {
            throw new IllegalArgumentException("typeIds has " + typeIds.length + " texts, ids " + ids.length);
        }
        int[] offsets = new int[ids.length + 1];
        for (int b = 0; b < ids.length; b++) {
            int n = ids[b].length;
            if (n < 1 || n > config.maxPositions()) {
                throw new IllegalArgumentException("text " + b + " has " + n + " tokens; allowed: 1 to "
                        + config.maxPositions() + " (truncate longer texts)");
            }
            if (typeIds != null && typeIds[b].length != n) {
                throw new IllegalArgumentException("text " + b + " has " + n + " ids but " + typeIds[b].length
                        + " type ids");
            }
            for (int t = 0; t < n; t++) {
                if (ids[b][t] < 0 || ids[b][t] >= config.vocabSize()) {
                    throw new IllegalArgumentException("text " + b + " token " + t + " has id " + ids[b][t]
                            + "; allowed: 0 to " + (config.vocabSize() - 1));
                }
                if (typeIds != null && (typeIds[b][t] < 0 || typeIds[b][t] >= config.typeVocabSize())) {
                    throw new IllegalArgumentException("text " + b + " token " + t + " has type id " + typeIds[b][t]
                            + "; allowed: 0 to " + (config.typeVocabSize() - 1));
                }
            }
            offsets[b + 1] = offsets[b] + n;
        }
        return offsets;
    }

    /** x[t] = LN(word[id] + position[p] + type[typeId]), p the token's place in its text. */
    private void embeddings(int[][] ids, int[][] typeIds, int[] offsets, float[] x) {
        VectorOps ops = engine.ops();
        int h = config.hidden();
        int texts = ids.length;
        engine.parallelFor(texts, b -> {
            for (int p = 0; p < ids[b].length; p++) {
                int row = (offsets[b] + p) * h;
                int type = typeIds == null ? 0 : typeIds[b][p];
                System.arraycopy(weights.wordEmbeddings, ids[b][p] * h, x, row, h);
                ops.axpy(1f, weights.positionEmbeddings, p * h, x, row, h);
                ops.axpy(1f, weights.typeEmbeddings, type * h, x, row, h);
                ops.layerNorm(x, row, h, weights.embeddingNormGamma, weights.embeddingNormBeta,
                        config.layerNormEps(), x, row);
            }
        });
    }

    /** x = LN(x + y) row by row ({@code y} is clobbered). */
    private void residualNorm(float[] y, float[] x, float[] gamma, float[] beta, int tokens) {
        VectorOps ops = engine.ops();
        int h = config.hidden();
        int tasks = (tokens + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        engine.parallelFor(tasks, task -> {
            for (int t = task * ROWS_PER_TASK; t < Math.min(tokens, (task + 1) * ROWS_PER_TASK); t++) {
                ops.axpy(1f, x, t * h, y, t * h, h);
                ops.layerNorm(y, t * h, h, gamma, beta, config.layerNormEps(), x, t * h);
            }
        });
    }

    private void gelu(float[] mid, int tokens, int width) {
        VectorOps ops = engine.ops();
        int tasks = (tokens + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        engine.parallelFor(tasks, task -> {
            int from = task * ROWS_PER_TASK, to = Math.min(tokens, (task + 1) * ROWS_PER_TASK);
            ops.gelu(mid, from * width, (to - from) * width);
        });
    }
}
