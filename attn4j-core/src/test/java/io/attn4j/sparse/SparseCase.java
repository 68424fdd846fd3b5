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
 *                    {@code >= n}, k {@code >=} number of blocks, ...): the mechanism must then equal {@code flash}
 * @param smallest    the smallest budget it accepts (one token, one block, window 1, ...)
 * @param larger      a budget larger than any sequence tested (must behave like covering all)
 * @param invalid     constructions of invalid configurations; each must throw an IllegalArgumentException that
 *                    names the value and what is allowed
 */
record SparseCase(IntFunction<MechanismConfig> coveringAll, MechanismConfig smallest, MechanismConfig larger,
                  List<Supplier<MechanismConfig>> invalid) {

    static final Map<String, SparseCase> ALL = Map.of(
            "sliding-window", new SparseCase(
                    n -> SlidingWindow.Config.of(n),
                    SlidingWindow.Config.of(1),
                    SlidingWindow.Config.of(1 << 20),
                    List.of(() -> SlidingWindow.Config.of(0), () -> SlidingWindow.Config.of(-5),
                            () -> new SlidingWindow.Config(8, 0, 64))),
            "streaming", new SparseCase(
                    n -> Streaming.Config.of(0, n),
                    Streaming.Config.of(0, 1),
                    Streaming.Config.of(1 << 20, 1 << 20),
                    List.of(() -> Streaming.Config.of(-1, 8), () -> Streaming.Config.of(4, 0),
                            () -> new Streaming.Config(4, 8, 64, 2000))),
            "block-topk", new SparseCase(
                    n -> BlockTopK.Config.of(KeyBudget.tokens(n)),
                    BlockTopK.Config.of(KeyBudget.tokens(1)),
                    BlockTopK.Config.of(KeyBudget.tokens(1 << 20)),
                    List.of(() -> BlockTopK.Config.of(KeyBudget.tokens(0)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(1.5)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(0)),
                            () -> BlockTopK.Config.of(KeyBudget.ratio(Double.NaN)),
                            () -> new BlockTopK.Config(KeyBudget.ratio(0.1), BlockTopK.Estimate.ORACLE, -1, 64, 64))),
            "hip", new SparseCase(
                    n -> Hip.Config.of(KeyBudget.tokens(n)),
                    Hip.Config.of(KeyBudget.tokens(1)),
                    Hip.Config.of(KeyBudget.ratio(1.0)),
                    List.of(() -> Hip.Config.of(KeyBudget.tokens(-3)),
                            () -> new Hip.Config(KeyBudget.ratio(0.5), 0, 0, 64))),
            // hyper estimates the keys outside its blocks, so it covers everything only when it is exact: at or below
            // minSequence (plain flash), or with one block over all keys (sorted, with an empty residual); the
            // smallest budget is one key per block, one sample, and a recursion down to single tokens
            "hyper", new SparseCase(
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
                            () -> HyperAttention.Config.defaults().withPredefined(-1, 8))));
}
