package io.attn4j.attention;

/**
 * Which keys a query may attend to: a predicate over (batch, query head, query index, key index), FlexAttention's
 * {@code mask_mod}. {@code true} means visible.
 *
 * <p><b>Positions.</b> Indices are row numbers in the query and key tensors. Masks that compare positions (causal,
 * windows, prefix-LM, ALiBi distances) place query {@code i} at key position {@code i + (Lk − Lq)}: the last query
 * lines up with the last key ("bottom-right" alignment, FlashAttention ≥ 2.1). When {@code Lq == Lk} a query's
 * position is its index; in decode ({@code Lq} new tokens after a cache) each new token sits at its place in the
 * cache. The alignment is fixed by {@link #bind}, which the kernels call with the actual lengths before use; an
 * unbound position mask assumes {@code Lq == Lk}.
 *
 * <p>Masks compose with {@link #and} and {@link #or}. Masks whose visible keys form one interval per query
 * implement {@link IntervalMask}, which lets kernels skip and mask whole tiles without testing each element; an
 * arbitrary lambda is tested element by element on partially masked tiles, and tile classification for a
 * {@link BlockMask} tests every element, so prefer the factories of {@link Masks}.
 */
@FunctionalInterface
public interface MaskMod {

    /** Whether query {@code query} may attend to key {@code key} (in batch {@code batch}, query head {@code head}). */
    boolean test(int batch, int head, int query, int key);

    /**
     * This mask with position alignment fixed for a call with {@code queryLength} queries and {@code keyLength}
     * keys (see the class comment). Masks that do not compare positions return themselves.
     */
    default MaskMod bind(int queryLength, int keyLength) {
        return this;
    }

    /**
     * Whether the mask may differ between batch rows or heads. Block masks for a mask that does not are built once
     * and shared by every (batch, head); the conservative default is {@code true}, the masks of {@link Masks} say
     * {@code false}.
     */
    default boolean dependsOnBatchOrHead() {
        return true;
    }

    /** Visible where both masks are. */
    default MaskMod and(MaskMod other) {
        return Masks.and(this, other);
    }

    /** Visible where either mask is. */
    default MaskMod or(MaskMod other) {
        return Masks.or(this, other);
    }
}
