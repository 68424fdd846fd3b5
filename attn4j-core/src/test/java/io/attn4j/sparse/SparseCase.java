package io.attn4j.sparse;

import io.attn4j.catalog.MechanismConfig;

import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * What the sparse contract test needs to know about one mechanism: configurations at the edges of its budget and
 * configurations it must refuse. Every mechanism of the sparse family has an entry in {@link #ALL}; a missing entry
 * fails {@link SparseContractTest}.
 *
 * @param coveringAll for a sequence of n tokens, a configuration whose budget covers every visible key (window
 *                    {@code >= n}, k {@code >=} number of blocks, ...): the mechanism must then equal {@code flash};
 *                    {@code null} for a mechanism that no configuration makes exact (see {@link #neverExact})
 * @param smallest    the smallest budget it accepts (one token, one block, window 1, ...)
 * @param larger      a budget larger than any sequence tested (must behave like covering all; for a mechanism that
 *                    is never exact, it must still give finite outputs)
 * @param invalid     constructions of invalid configurations; each must throw an IllegalArgumentException that
 *                    names the value and what is allowed
 */
record SparseCase(IntFunction<MechanismConfig> coveringAll, MechanismConfig smallest, MechanismConfig larger,
                  List<Supplier<MechanismConfig>> invalid) {

    /**
     * The case of a mechanism whose output no configuration makes equal to {@code flash} (pooled or estimated ones:
     * agent attention's two softmaxes never compose to one). The contract test then skips the exactness check and
     * only requires finite outputs of {@code larger}; the mechanism's own test asserts the fidelity it measures.
     */
    static SparseCase neverExact(MechanismConfig smallest, MechanismConfig larger,
                                 List<Supplier<MechanismConfig>> invalid) {
        return new SparseCase(null, smallest, larger, invalid);
    }

    /** Whether some configuration makes the mechanism exact ({@link #coveringAll} is set). */
    boolean hasExactConfiguration() {
        return coveringAll != null;
    }

    static final Map<String, SparseCase> ALL = Map.ofEntries(
            Map.entry("sliding-window", new SparseCase(
                    n -> SlidingWindow.Config.of(n),
                    SlidingWindow.Config.of(1),
                    SlidingWindow.Config.of(1 << 20),
                    List.of(() -> SlidingWindow.Config.of(0), () -> SlidingWindow.Config.of(-5),
                            () -> new SlidingWindow.Config(KeyBudget.tokens(8), 0, 64)))),
            Map.entry("streaming", new SparseCase(
                    n -> Streaming.Config.of(0, n),
                    Streaming.Config.of(0, 1),
                    Streaming.Config.of(1 << 20, 1 << 20),
                    List.of(() -> Streaming.Config.of(-1, 8), () -> Streaming.Config.of(4, 0),
                            () -> new Streaming.Config(4, KeyBudget.tokens(8), 64, 2000)))),
            Map.entry("block-topk", new SparseCase(
                    n -> BlockTopK.Config.of(KeyBudget.tokens(n)),
                    BlockTopK.Config.of(KeyBudget.tokens(1)),
                    BlockTopK.Config.of(KeyBudget.tokens(1 << 20)),
                    List.of(() -> BlockTopK.Config.of(KeyBudget.tokens(0)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(1.5)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(0)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(Double.NaN)),
                            () -> new BlockTopK.Config(KeyBudget.ratio(0.1), BlockTopK.Estimate.ORACLE, -1, 64, 64)))),
            Map.entry("hip", new SparseCase(
                    n -> Hip.Config.of(KeyBudget.tokens(n)),
                    Hip.Config.of(KeyBudget.tokens(1)),
                    Hip.Config.of(KeyBudget.ratio(1.0)),
                    List.of(() -> Hip.Config.of(KeyBudget.tokens(-3)),
                            () -> new Hip.Config(KeyBudget.ratio(0.5), 0, 0, 64)))),
            Map.entry("neighborhood", new SparseCase(
                    n -> NeighborhoodAttention.Config.oneD(2 * n + 1),
                    NeighborhoodAttention.Config.oneD(1),
                    NeighborhoodAttention.Config.oneD((1 << 20) + 1),
                    List.of(() -> NeighborhoodAttention.Config.oneD(0),
                            () -> NeighborhoodAttention.Config.oneD(4),
                            () -> NeighborhoodAttention.Config.oneD(3, 0),
                            () -> new NeighborhoodAttention.Config(3, 3, 1, 1, 0, 0, 128, 64),
                            () -> NeighborhoodAttention.Config.twoD(3, 3, 0),
                            () -> NeighborhoodAttention.Config.twoD(3, 3, 1, 1, -2, 8),
                            () -> new NeighborhoodAttention.Config(1, 3, 1, 1, 0, 0, 128, 0)))),
            Map.entry("s2", new SparseCase(
                    // stride 1: every key is in every head's shard (window part and shard part merged)
                    n -> S2Attention.Config.rule(1, 1),
                    S2Attention.Config.rule(1 << 20, 1),
                    S2Attention.Config.rule(8, 1 << 20),
                    List.of(() -> S2Attention.Config.rule(0, 8),
                            () -> S2Attention.Config.rule(4, 0),
                            () -> S2Attention.Config.perHead(new int[] {2, 2}, new int[] {0, 2}, 8),
                            () -> S2Attention.Config.perHead(new int[] {0}, new int[] {0}, 8),
                            () -> S2Attention.Config.perHead(new int[] {2}, new int[] {0, 1}, 8),
                            () -> S2Attention.Config.perHead(new int[] {2}, new int[] {-1}, 8),
                            () -> new S2Attention.Config(null, new int[] {0}, 0, 8, 1, 128, 64),
                            () -> S2Attention.Config.rule(4, 8).withShardUnit(0)))),
            Map.entry("moa", new SparseCase(
                    n -> Moa.Config.perHead(new int[] {n, 0, 1, n + 5}, new double[] {0, 1, 1, 0.5}, 2),
                    Moa.Config.uniform(0, 0, 0),
                    Moa.Config.uniform(1 << 20, 0, 4),
                    List.of(() -> Moa.Config.uniform(-1, 0, 4), () -> Moa.Config.uniform(64, 1.5, 4),
                            () -> Moa.Config.uniform(64, Double.NaN, 4), () -> Moa.Config.uniform(64, -0.1, 4),
                            () -> Moa.Config.uniform(64, 0, -1), () -> Moa.Config.perHead(List.of(), 4),
                            () -> Moa.Config.perHead(new int[] {1, 2}, new double[] {0}, 4),
                            () -> new Moa.Config(List.of(new Moa.Span(8, 0)), 4, 0, 64)))),
            Map.entry("spatten", new SparseCase(
                    n -> SpAtten.Config.of(KeyBudget.tokens(n)),
                    SpAtten.Config.of(KeyBudget.tokens(1)),
                    SpAtten.Config.of(KeyBudget.tokens(1 << 20)),
                    List.of(() -> SpAtten.Config.of(KeyBudget.tokens(0)),
                            () -> SpAtten.Config.of(KeyBudget.ratio(1.01)),
                            () -> SpAtten.Config.of(KeyBudget.ratio(0.5)).withObservation(0),
                            () -> new SpAtten.Config(KeyBudget.ratio(0.5), 16, 64, 0)))),
            // one cluster and no window is flash over a permutation of the keys
            Map.entry("routing", new SparseCase(
                    n -> Routing.Config.of(n, 0),
                    Routing.Config.of(1, 0),
                    Routing.Config.of(1 << 20, 1 << 20),
                    List.of(() -> Routing.Config.of(0, 16), () -> Routing.Config.of(64, -1),
                            () -> Routing.Config.defaults().withIterations(-1),
                            () -> new Routing.Config(64, 2, 16, 1, 64, 0)))),
            // agents pooled from the queries: two softmaxes in a row are never one, whatever the number of agents
            Map.entry("agent", SparseCase.neverExact(
                    AgentAttention.Config.of(1),
                    AgentAttention.Config.of(1 << 20),
                    List.of(() -> AgentAttention.Config.of(0), () -> AgentAttention.Config.of(-4),
                            () -> new AgentAttention.Config(16, 0, 64)))),
            // hyper estimates the keys outside its blocks, so it covers everything only when it is exact: at or below
            // minSequence (plain flash), or with one block over all keys (sorted, with an empty residual); the
            // smallest budget is one key per block, one sample, and a recursion down to single tokens
            Map.entry("hyper", new SparseCase(
                    n -> HyperAttention.Config.defaults().withMinSequence(n),
                    new HyperAttention.Config(8, 1, 1, 1, HyperAttention.Sampling.UNIFORM,
                            HyperAttention.Residual.SAMPLED_VALUES, 0, 0, 1, 7),
                    new HyperAttention.Config(3, 1, 1 << 20, 16, HyperAttention.Sampling.ROW_NORM,
                            HyperAttention.Residual.MEAN_VALUE, 4, 9, 2, 7),
                    List.of(() -> HyperAttention.Config.of(0, 16), () -> HyperAttention.Config.of(64, -1),
                            () -> HyperAttention.Config.defaults().withHashBits(17),
                            () -> HyperAttention.Config.defaults().withMinSequence(0),
                            () -> HyperAttention.Config.defaults().withSampling(null),
                            () -> HyperAttention.Config.defaults().withResidual(null),
                            () -> HyperAttention.Config.defaults().withPredefined(-1, 8)))));
}
