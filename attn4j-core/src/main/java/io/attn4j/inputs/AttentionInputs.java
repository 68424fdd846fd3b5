package io.attn4j.inputs;

import io.attn4j.tensor.Tensor;

import java.util.List;

/**
 * Q, K and V of a standard input (BSHD), and the needles planted in it (none for {@code random}).
 */
public record AttentionInputs(String kind, long seed, InputShape shape, Tensor q, Tensor k, Tensor v,
                              List<Needle> needles) {
}
