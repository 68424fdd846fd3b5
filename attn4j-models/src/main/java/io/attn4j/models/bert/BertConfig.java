package io.attn4j.models.bert;

/**
 * The shape of a BERT-family encoder and how it turns token states into an embedding. Read from the model files
 * (Hugging Face {@code config.json}, or inferred from an ONNX graph), never hard-coded.
 *
 * @param vocabSize     word-piece vocabulary size
 * @param hidden        hidden size
 * @param heads         attention heads ({@code hidden % heads == 0})
 * @param layers        encoder layers
 * @param intermediate  feed-forward size
 * @param layerNormEps  layer-normalisation epsilon
 * @param maxPositions  position embeddings, the longest input
 * @param typeVocabSize token-type (segment) embeddings
 * @param pooling       how token states become the embedding
 * @param normalize     whether the embedding is L2-normalised
 */
public record BertConfig(int vocabSize, int hidden, int heads, int layers, int intermediate, float layerNormEps,
                         int maxPositions, int typeVocabSize, Pooling pooling, boolean normalize) {

    public BertConfig {
        check("vocabSize", vocabSize);
        check("hidden", hidden);
        check("heads", heads);
        check("layers", layers);
        check("intermediate", intermediate);
        check("maxPositions", maxPositions);
        check("typeVocabSize", typeVocabSize);
        if (hidden % heads != 0) {
            throw new IllegalArgumentException("hidden = " + hidden + " is not a multiple of heads = " + heads);
        }
        if (!(layerNormEps > 0) || !Float.isFinite(layerNormEps)) {
            throw new IllegalArgumentException("layerNormEps = " + layerNormEps + "; allowed: finite and > 0");
        }
        if (pooling == null) {
            throw new IllegalArgumentException("pooling is null; allowed: MEAN or CLS");
        }
    }

    private static void check(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " = " + value + "; allowed: >= 1");
        }
    }

    /** Size of one attention head. */
    public int headDim() {
        return hidden / heads;
    }
}
