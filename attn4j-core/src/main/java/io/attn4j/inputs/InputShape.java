package io.attn4j.inputs;

/**
 * The sizes of an attention input: {@code q [batch, queryLength, heads, headDim]}, {@code k [batch, keyLength,
 * kvHeads, headDim]}, {@code v [batch, keyLength, kvHeads, valueDim]} (BSHD).
 */
public record InputShape(int batch, int queryLength, int keyLength, int heads, int kvHeads, int headDim,
                         int valueDim) {

    public InputShape {
        if (batch < 1 || queryLength < 1 || keyLength < 1 || heads < 1 || kvHeads < 1 || headDim < 1 || valueDim < 1) {
            throw new IllegalArgumentException("input shape " + this + "; allowed: every size >= 1");
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads = " + heads + " is not a multiple of kvHeads = " + kvHeads);
        }
    }

    /** Self-attention: {@code Lq = Lk = length}, {@code Dv = D}. */
    public static InputShape self(int batch, int length, int heads, int kvHeads, int headDim) {
        return new InputShape(batch, length, length, heads, kvHeads, headDim, headDim);
    }

    /** Cross-attention or decode: {@code Lq} queries against {@code Lk} keys, {@code Dv = D}. */
    public static InputShape cross(int batch, int queryLength, int keyLength, int heads, int kvHeads, int headDim) {
        return new InputShape(batch, queryLength, keyLength, heads, kvHeads, headDim, headDim);
    }
}
