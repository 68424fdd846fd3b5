package io.attn4j.sparse;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.runtime.Engine;

/** Attention-mass recall over every query row (the exact mean that {@code analysis.Fidelity} estimates from a sample), for tests. */
final class AllRowsRecall {
    private AllRowsRecall() {
    }

    /**
     * Mean attention-mass recall of {@code kept}: per query, the share of the exact softmax mass on its kept keys,
     * {@code e^(lse_kept − lse_all)} with both log-sum-exps from {@code flash}.
     */
    static double recall(KeptKeys kept, AttentionInputs in, AttentionSpec spec, Engine engine) {
        FlashAttention flash = new FlashAttention(engine);
        float[] all = flash.forward(in.q(), in.k(), in.v(), spec.returnLse()).lse().array();
        float[] some = flash.forward(in.q(), in.k(), in.v(), spec.returnLse()
                .mask((b, h, q, k) -> kept.kept(b, h, q, k))).lse().array();
        double sum = 0;
        for (int i = 0; i < all.length; i++) {
            sum += Math.exp((double) some[i] - all[i]);
        }
        return sum / all.length;
    }
}
