package io.attn4j.linear;

import io.attn4j.attention.AttentionResult;

/**
 * The output of a recurrent call and the state after its last token, which continues the sequences in a later call.
 *
 * @param attention the output (no log-sum-exp, no observers)
 * @param state     the final state: one block per (sequence, KV head) of {@link Segments#sequences()}
 */
public record RecurrentResult(AttentionResult attention, LinearState state) {
    public io.attn4j.tensor.Tensor output() {
        return attention.output();
    }
}
