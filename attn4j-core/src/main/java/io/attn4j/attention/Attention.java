package io.attn4j.attention;

import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

/**
 * The entry points for exact attention, on the default {@link Engine}.
 *
 * <pre>{@code
 * AttentionResult r = Attention.sdpa(q, k, v, AttentionSpec.causal().returnLse());
 * AttentionResult f = Attention.flex(q, k, v, ScoreMods.alibi(8), BlockMask.of(Masks.causal(), n, n, 64),
 *                                    AttentionSpec.noncausal());
 * }</pre>
 *
 * <p>{@link #sdpa} computes exactly what {@link AttentionSpec} defines. It runs {@code lean} (split-KV decode) when
 * the call has at most {@value Pattern#DECODE_MAX_QUERIES} queries and no observers, and {@code flash} otherwise.
 * Other mechanisms, or these on another engine, come from {@link io.attn4j.catalog.Catalog}.
 */
public final class Attention {
    private Attention() {
    }

    /** Exact scaled dot-product attention into a new output tensor. */
    public static AttentionResult sdpa(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        return sdpa(q, k, v, spec, null);
    }

    /** Exact scaled dot-product attention into {@code out} ({@code [B, Lq, Hq, Dv]} in the spec's layout). */
    public static AttentionResult sdpa(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        int lq = q != null && q.rank() == 4 && spec != null ? q.size(spec.layout().seqAxis()) : 0;
        if (spec != null && spec.observers().isEmpty() && lq >= 1 && lq <= Pattern.DECODE_MAX_QUERIES) {
            return Holder.LEAN.forward(q, k, v, spec, out);
        }
        return Holder.FLASH.forward(q, k, v, spec, out);
    }

    /**
     * FlexAttention: exact attention over the tiles of {@code blocks} (its mask applies inside partial tiles), with
     * an optional {@code scoreMod}; {@code spec} gives scale, layout, LSE and observers and must carry no mask.
     */
    public static AttentionResult flex(Tensor q, Tensor k, Tensor v, ScoreMod scoreMod, BlockMask blocks,
                                       AttentionSpec spec) {
        return Holder.FLASH.flex(q, k, v, scoreMod, blocks, spec, null);
    }

    private static final class Holder {
        static final FlashAttention FLASH = new FlashAttention(Engine.defaults());
        static final LeanDecode LEAN = new LeanDecode(Engine.defaults());
    }
}
