package io.attn4j.conformance;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.testing.Fresh;

/** Inputs and specs for a pattern, sized for tests. */
final class Calls {
    private Calls() {
    }

    /** A fresh random input of the given pattern with Lq = n (decode: Lq = min(n, 16) queries against n + 7 keys). */
    static AttentionInputs inputs(Pattern pattern, int n, int heads, int kvHeads, int headDim) {
        return StandardInputs.random(Fresh.seed(), shape(pattern, n, heads, kvHeads, headDim));
    }

    static InputShape shape(Pattern pattern, int n, int heads, int kvHeads, int headDim) {
        return switch (pattern) {
            case NS, CS -> InputShape.self(1, n, heads, kvHeads, headDim);
            case NC -> InputShape.cross(1, n, 2 * n + 17, heads, kvHeads, headDim);
            case CC -> InputShape.cross(1, n, n + 23, heads, kvHeads, headDim);
            case DECODE -> InputShape.cross(1, Math.min(n, Pattern.DECODE_MAX_QUERIES), n + 7, heads, kvHeads, headDim);
        };
    }

    static AttentionSpec spec(Pattern pattern) {
        return switch (pattern) {
            case NS, NC -> AttentionSpec.noncausal();
            case CS, CC, DECODE -> AttentionSpec.causal();
        };
    }

    /** A pattern the mechanism declares, preferring {@code preferred}. */
    static Pattern some(Mechanism m, Pattern... preferred) {
        for (Pattern p : preferred) {
            if (m.supports(p)) {
                return p;
            }
        }
        return m.patterns().iterator().next();
    }
}
