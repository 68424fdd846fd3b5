package io.attn4j.models.bert;

import io.attn4j.linalg.PackedMatrix;
import io.attn4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The weights of a BERT encoder, checked against its {@link BertConfig} and packed once for the GEMMs: the Q, K and
 * V projections of a layer are stacked into one matrix, so a layer runs four GEMMs.
 *
 * <p>{@link #fromHuggingFace} maps a checkpoint's tensor names (Hugging Face {@code BertModel}, with or without a
 * {@code bert.} prefix) explicitly: a missing tensor, an unexpected one, or a wrong shape is an error naming it.
 */
public final class BertWeights {
    final float[] wordEmbeddings;
    final float[] positionEmbeddings;
    final float[] typeEmbeddings;
    final float[] embeddingNormGamma;
    final float[] embeddingNormBeta;
    final List<Layer> layers;

    /** One encoder layer. Matrices are {@code y = x·Wᵀ + b}; norms apply after the residual addition (post-LN). */
    record Layer(PackedMatrix qkv, float[] qkvBias, PackedMatrix attentionOut, float[] attentionOutBias,
                 float[] attentionNormGamma, float[] attentionNormBeta, PackedMatrix ffnIn, float[] ffnInBias,
                 PackedMatrix ffnOut, float[] ffnOutBias, float[] ffnNormGamma, float[] ffnNormBeta) {
    }

    BertWeights(float[] wordEmbeddings, float[] positionEmbeddings, float[] typeEmbeddings, float[] embeddingNormGamma,
                float[] embeddingNormBeta, List<Layer> layers) {
        this.wordEmbeddings = wordEmbeddings;
        this.positionEmbeddings = positionEmbeddings;
        this.typeEmbeddings = typeEmbeddings;
        this.embeddingNormGamma = embeddingNormGamma;
        this.embeddingNormBeta = embeddingNormBeta;
        this.layers = List.copyOf(layers);
    }

    /** Bytes held by the packed weights and embeddings. */
    public long bytes() {
        long n = 4L * (wordEmbeddings.length + positionEmbeddings.length + typeEmbeddings.length);
        for (Layer l : layers) {
            n += l.qkv.bytes() + l.attentionOut.bytes() + l.ffnIn.bytes() + l.ffnOut.bytes();
        }
        return n;
    }

    /**
     * Weights from a Hugging Face checkpoint's tensors ({@code embeddings.word_embeddings.weight},
     * {@code encoder.layer.N.attention.self.query.weight}, ..., optionally prefixed with {@code bert.}), linear
     * weights as {@code [out, in]}. Pooler and classifier tensors are ignored by name; anything else unexpected is
     * an error, as is a missing tensor or a wrong shape.
     */
    public static BertWeights fromHuggingFace(Map<String, Tensor> tensors, BertConfig c) {
        Names names = new Names(tensors);
        int h = c.hidden(), i = c.intermediate();
        float[] word = names.take("embeddings.word_embeddings.weight", c.vocabSize(), h);
        float[] position = names.take("embeddings.position_embeddings.weight", c.maxPositions(), h);
        float[] type = names.take("embeddings.token_type_embeddings.weight", c.typeVocabSize(), h);
        float[] gamma = names.take("embeddings.LayerNorm.weight", h);
        float[] beta = names.take("embeddings.LayerNorm.bias", h);
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            String p = "encoder.layer." + l + ".";
            Tensor q = names.matrix(p + "attention.self.query.weight", h, h);
            Tensor k = names.matrix(p + "attention.self.key.weight", h, h);
            Tensor v = names.matrix(p + "attention.self.value.weight", h, h);
            float[] qkvBias = concat(names.take(p + "attention.self.query.bias", h),
                    names.take(p + "attention.self.key.bias", h), names.take(p + "attention.self.value.bias", h));
            layers.add(new Layer(
                    PackedMatrix.stack(List.of(q, k, v), false), qkvBias,
                    PackedMatrix.ofOutputsByInputs(names.matrix(p + "attention.output.dense.weight", h, h)),
                    names.take(p + "attention.output.dense.bias", h),
                    names.take(p + "attention.output.LayerNorm.weight", h),
                    names.take(p + "attention.output.LayerNorm.bias", h),
                    PackedMatrix.ofOutputsByInputs(names.matrix(p + "intermediate.dense.weight", i, h)),
                    names.take(p + "intermediate.dense.bias", i),
                    PackedMatrix.ofOutputsByInputs(names.matrix(p + "output.dense.weight", h, i)),
                    names.take(p + "output.dense.bias", h),
                    names.take(p + "output.LayerNorm.weight", h),
                    names.take(p + "output.LayerNorm.bias", h)));
        }
        names.checkNothingLeft(List.of("pooler.", "cls.", "classifier.", "embeddings.position_ids"));
        return new BertWeights(word, position, type, gamma, beta, layers);
    }

    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /** Takes tensors by name (with or without a {@code bert.} prefix), checking shapes and finiteness. */
    static final class Names {
        private final Map<String, Tensor> remaining = new LinkedHashMap<>();

        Names(Map<String, Tensor> tensors) {
            tensors.forEach((name, t) -> remaining.put(name.startsWith("bert.") ? name.substring(5) : name, t));
        }

        Tensor matrix(String name, int rows, int cols) {
            Tensor t = remaining.remove(name);
            if (t == null) {
                throw new IllegalArgumentException("the checkpoint has no tensor '" + name + "' (expected shape ["
                        + rows + ", " + cols + "]); it has: " + new TreeSet<>(remaining.keySet()));
            }
            checkShape(name, t, rows, cols);
            checkFinite(name, t);
            return t;
        }

        float[] take(String name, int... shape) {
            Tensor t = remaining.remove(name);
            if (t == null) {
                throw new IllegalArgumentException("the checkpoint has no tensor '" + name + "' (expected shape "
                        + Arrays.toString(shape) + ")");
            }
            checkShape(name, t, shape);
            checkFinite(name, t);
            return t.toArray();
        }

        private static void checkShape(String name, Tensor t, int... shape) {
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                        + "; the config needs " + Arrays.toString(shape));
            }
        }

        private static void checkFinite(String name, Tensor t) {
            int[] at = t.firstNonFinite();
            if (at != null) {
                throw new IllegalArgumentException("tensor '" + name + "' holds " + t.get(at) + " at "
                        + Arrays.toString(at) + "; weights must be finite");
            }
        }

        void checkNothingLeft(List<String> ignoredPrefixes) {
            List<String> unexpected = new ArrayList<>();
            for (String name : remaining.keySet()) {
                if (ignoredPrefixes.stream().noneMatch(name::startsWith)) {
                    unexpected.add(name);
                }
            }
            if (!unexpected.isEmpty()) {
                throw new IllegalArgumentException("the checkpoint has tensors a BERT encoder does not use: " + unexpected
                        + " (a different architecture, or more layers than the config says?)");
            }
        }
    }
}
