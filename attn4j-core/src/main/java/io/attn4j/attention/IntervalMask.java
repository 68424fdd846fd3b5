package io.attn4j.attention;

/**
 * A mask whose visible keys, for every query, form one contiguous interval {@code [keyFrom, keyTo)}. Causal,
 * sliding-window, prefix-LM, block-causal and document masks (and intersections of them) are interval masks.
 *
 * <p>Bounds may fall outside {@code [0, Lk)}; kernels clamp them. {@code keyTo <= keyFrom} means the query sees no
 * key, and its output is zero.
 */
public interface IntervalMask extends MaskMod {

    /** The first visible key of {@code query} (inclusive). */
    int keyFrom(int batch, int head, int query);

    /** One past the last visible key of {@code query} (exclusive). */
    int keyTo(int batch, int head, int query);

    @Override
    default boolean test(int batch, int head, int query, int key) {
        return key >= keyFrom(batch, head, query) && key < keyTo(batch, head, query);
    }

    @Override
    default IntervalMask bind(int queryLength, int keyLength) {
        return this;
    }
}
