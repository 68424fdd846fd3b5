package io.attn4j.sparse;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertExact;
import static io.attn4j.testing.Numerics.assertFinite;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract of the sparse family (issue 5), for every sparse mechanism of the catalog: with a budget that covers
 * everything it equals {@code flash} within the exact tolerance; it is deterministic; it handles ragged last blocks,
 * a budget of one and budgets larger than the sequence; it refuses invalid budgets with a clear error; and what it
 * says it kept is consistent with its output.
 */
class SparseContractTest {
    private static final int[] LENGTHS = {1, 3, 65, 200, 333};

    static Stream<Mechanism> sparse() {
        return Catalog.all().stream().filter(m -> m.family() == Family.SPARSE);
    }

    private static Engine engine() {
        return Engine.defaults().withThreads(3);
    }

    private static SparseCase cases(Mechanism m) {
        SparseCase c = SparseCase.ALL.get(m.id());
        assertNotNull(c, "SparseCase.ALL has no entry for " + m.id());
        return c;
    }

    /** The self-attention patterns the mechanism declares, as specs. */
    private static List<AttentionSpec> specs(Mechanism m) {
        return Stream.of(Pattern.NS, Pattern.CS).filter(m::supports)
                .map(p -> p == Pattern.CS ? AttentionSpec.causal() : AttentionSpec.noncausal()).toList();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sparse")
    void equalsFlashWhenTheBudgetCoversEverything(Mechanism m) {
        for (int n : LENGTHS) {
            for (AttentionSpec spec : specs(m)) {
                AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
                if (!cases(m).hasExactConfiguration()) {
                    // declared by the case, not by name: no configuration is exact, so only finiteness is checked
                    Tensor out = m.create(cases(m).larger(), engine()).forward(in.q(), in.k(), in.v(), spec).output();
                    assertFinite(out, m.id() + " larger budget n=" + n + " " + spec);
                    continue;
                }
                for (MechanismConfig config : List.of(cases(m).coveringAll().apply(n), cases(m).larger())) {
                    Tensor ours = m.create(config, engine()).forward(in.q(), in.k(), in.v(), spec).output();
                    Tensor naive = new NaiveAttention(engine()).forward(in.q(), in.k(), in.v(), spec).output();
                    Tensor reference = new ReferenceAttention(engine()).forward(in.q(), in.k(), in.v(), spec).output();
                    assertExact(m.id() + " " + config + " n=" + n + " " + spec, ours, naive, reference);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sparse")
    void theSmallestBudgetWorksAtEveryLength(Mechanism m) {
        for (int n : LENGTHS) {
            for (AttentionSpec spec : specs(m)) {
                AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(2, n, 4, 1, 16));
                Tensor out = m.create(cases(m).smallest(), engine()).forward(in.q(), in.k(), in.v(), spec).output();
                assertFinite(out, m.id() + " smallest budget n=" + n);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sparse")
    void isDeterministic(Mechanism m) {
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, 700, 4, 2, 64));
        for (AttentionSpec spec : specs(m)) {
            Tensor first = m.create(engine()).forward(in.q(), in.k(), in.v(), spec).output();
            Tensor again = m.create(Engine.defaults().withThreads(1)).forward(in.q(), in.k(), in.v(), spec).output();
            assertBitIdentical(m.id() + " twice, 3 vs 1 threads", again, first);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sparse")
    void refusesInvalidBudgetsClearly(Mechanism m) {
        for (Supplier<MechanismConfig> invalid : cases(m).invalid()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, invalid::get);
            assertTrue(e.getMessage().contains("allowed"), "the refusal says what is allowed: " + e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> m.create(MechanismConfig.NONE));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sparse")
    void keptKeysExplainTheOutput(Mechanism m) {
        AttentionMechanism mechanism = m.create(engine());
        if (!(mechanism instanceof SparseAttention sparse)) {
            return; // pooled mechanisms (agent) keep no subset of keys
        }
        int n = 300;
        AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 2, 1, 32));
        for (AttentionSpec spec : specs(m)) {
            KeptKeys kept = sparse.keptKeys(in.q(), in.k(), in.v(), spec);
            Tensor out = mechanism.forward(in.q(), in.k(), in.v(), spec).output();
            if (!kept.exactOnKept()) {
                continue;
            }
            // exact attention restricted to the kept keys must be the output
            Tensor restricted = new FlashAttention(engine()).forward(in.q(), in.k(), in.v(),
                    spec.mask((b, h, q, k) -> kept.kept(b, h, q, k))).output();
            Tensor reference = new ReferenceAttention(engine()).forward(in.q(), in.k(), in.v(),
                    spec.mask((b, h, q, k) -> kept.kept(b, h, q, k))).output();
            assertExact(m.id() + " vs attention on its kept keys " + spec, out, restricted, reference);
        }
    }
}
