package io.attn4j.conformance;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Observers;
import io.attn4j.attention.PartialState;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.ScoreMods;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.Numerics;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertClose;
import static io.attn4j.testing.Numerics.assertExact;
import static io.attn4j.testing.Numerics.assertFinite;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared conformance suite (DESIGN.md): every mechanism of {@link Catalog#all()} on both SIMD paths, through
 * the same checks. A mechanism added to the catalog inherits all of them; checks that need a capability the
 * mechanism does not declare (a pattern, the log-sum-exp, exactness) are skipped for it by what its descriptor says,
 * never by a list of names.
 *
 * <p>Engines run three threads so that work really splits (and decode really merges several states) even on a
 * two-core machine. Scratch is poisoned with NaN (the build sets {@code attn4j.poisonScratch}), and every output is
 * checked finite.
 */
class ConformanceTest {
    private static final double PREFIX_TOLERANCE = 1e-5;

    static Stream<Arguments> mechanisms() {
        List<Arguments> all = new ArrayList<>();
        for (Mechanism m : Catalog.all()) {
            for (VectorOps ops : SimdPaths.all()) {
                all.add(Arguments.of(m, ops));
            }
        }
        return all.stream();
    }

    private static Engine engine(VectorOps ops) {
        return Engine.of(ops, 3);
    }

    private static AttentionResult reference(AttentionInputs in, AttentionSpec spec) {
        return new ReferenceAttention(Engine.defaults()).forward(in.q(), in.k(), in.v(), spec);
    }

    private static Tensor naive(VectorOps ops, AttentionInputs in, AttentionSpec spec) {
        return new NaiveAttention(engine(ops)).forward(in.q(), in.k(), in.v(), spec.observers().isEmpty() ? spec
                : AttentionSpec.noncausal().causal(spec.isCausal()).mask(spec.mask()).scoreMod(spec.scoreMod())).output();
    }

    /** Runs the mechanism and checks the output against the reference by its kind (exact: FlashAttention's rule). */
    private static Tensor checkAgainstReference(String what, Mechanism m, VectorOps ops, AttentionInputs in,
                                                AttentionSpec spec) {
        Tensor ours = m.create(engine(ops)).forward(in.q(), in.k(), in.v(), spec).output();
        assertFinite(ours, what);
        if (m.exact()) {
            assertExact(what + " [" + m.id() + ", " + ops.name() + "]", ours, naive(ops, in, spec),
                    reference(in, spec).output());
        }
        return ours;
    }

    // -------------------------------------------------------------------------------------------- patterns

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void declaredPatternsAreHonoured(Mechanism m, VectorOps ops) {
        for (Pattern pattern : Pattern.values()) {
            AttentionInputs in = Calls.inputs(pattern, 37, 4, 2, 32);
            AttentionSpec spec = Calls.spec(pattern);
            AttentionMechanism mechanism = m.create(engine(ops));
            if (m.supports(pattern)) {
                checkAgainstReference(pattern.id(), m, ops, in, spec);
            } else {
                UnsupportedInputException e = assertThrows(UnsupportedInputException.class,
                        () -> mechanism.forward(in.q(), in.k(), in.v(), spec), m.id() + " must refuse " + pattern);
                assertTrue(e.getMessage().length() > 20, "the refusal says why: " + e.getMessage());
            }
        }
    }

    // -------------------------------------------------------------------------------------------- exactness

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void matchesTheReferenceAtOddLengths(Mechanism m, VectorOps ops) {
        for (int n : new int[] {1, 3, 17, 63, 65, 127, 1000, 4097}) {
            if (m.supports(Pattern.DECODE)) {
                for (int queries : new int[] {1, 5}) {
                    AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, queries, n, 4, 2, 64));
                    checkAgainstReference("decode Lq=" + queries + " Lk=" + n, m, ops, in, AttentionSpec.causal());
                }
            }
            if (m.supports(Pattern.CS)) {
                int heads = n > 1000 ? 1 : 2;
                AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, heads, 1, 64));
                checkAgainstReference("CS n=" + n, m, ops, in, AttentionSpec.causal());
                if (n <= 1000 && m.supports(Pattern.NS)) {
                    checkAgainstReference("NS n=" + n, m, ops, in, AttentionSpec.noncausal());
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void matchesTheReferenceAtEveryHeadDim(Mechanism m, VectorOps ops) {
        for (int d : new int[] {16, 32, 64, 80, 96, 128, 256}) {
            for (Pattern pattern : m.patterns()) {
                AttentionInputs in = Calls.inputs(pattern, 65, 4, 2, d);
                checkAgainstReference(pattern.id() + " d=" + d, m, ops, in, Calls.spec(pattern));
            }
        }
        // a value dimension different from the key dimension
        Pattern pattern = Calls.some(m, Pattern.NS, Pattern.DECODE);
        InputShape s = Calls.shape(pattern, 40, 2, 2, 48);
        AttentionInputs in = StandardInputs.random(Fresh.seed(),
                new InputShape(1, s.queryLength(), s.keyLength(), 2, 2, 48, 72));
        checkAgainstReference("Dv != D", m, ops, in, Calls.spec(pattern));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void matchesTheReferenceOnStructuredInputs(Mechanism m, VectorOps ops) {
        for (Pattern pattern : m.patterns()) {
            InputShape shape = Calls.shape(pattern, 300, 4, 2, 64);
            AttentionInputs in = StandardInputs.structured(Fresh.seed(), shape);
            checkAgainstReference("structured " + pattern.id(), m, ops, in, Calls.spec(pattern));
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void masksAndScoreModsMatchTheReference(Mechanism m, VectorOps ops) {
        Pattern pattern = Calls.some(m, Pattern.CS, Pattern.DECODE);
        int n = 150;
        AttentionInputs in = Calls.inputs(pattern, n, 4, 2, 32);
        int lq = in.shape().queryLength(), lk = in.shape().keyLength();
        MaskMod custom = (b, h, q, k) -> (q * 7 + k * 3 + h) % 5 != 0; // depends on the head: no shared block mask
        List<AttentionSpec> specs = List.of(
                AttentionSpec.causal().mask(Masks.slidingWindow(20)),
                AttentionSpec.noncausal().mask(Masks.slidingWindow(7, 3)),
                AttentionSpec.noncausal().mask(Masks.prefixLm(40)),
                AttentionSpec.noncausal().mask(Masks.blockCausal(32)),
                AttentionSpec.causal().mask(Masks.dilated(10, 3)),
                AttentionSpec.noncausal().mask(custom),
                AttentionSpec.noncausal().mask(Masks.documents(new int[] {0, 1, lq / 2, lq}, new int[] {0, 9, 70, lk},
                        Masks.causal())),
                AttentionSpec.causal().mask(Masks.slidingWindow(16).or(Masks.prefixLm(4))),
                AttentionSpec.noncausal().scoreMod(ScoreMods.alibi(4)),
                AttentionSpec.causal().scoreMod(ScoreMods.softcap(2f)).scale(0.5f),
                AttentionSpec.noncausal().scoreMod(ScoreMods.temperature(0.3f).andThen(ScoreMods.alibi(4))),
                AttentionSpec.causal().scoreMod((s, b, h, q, k) -> s + 0.01f * (k % 7) - 0.1f * h));
        for (AttentionSpec spec : specs) {
            boolean documentsOnly = m.promises(Guarantee.PACKED_DOCUMENTS) && Masks.packing(spec.mask()) != null;
            boolean refused = (spec.mask() != null && !m.promises(Guarantee.MASKS) && !documentsOnly)
                    || (spec.scoreMod() != null && !m.promises(Guarantee.SCORE_MODS));
            if (refused) {
                AttentionMechanism mechanism = m.create(engine(ops));
                assertThrows(UnsupportedInputException.class, () -> mechanism.forward(in.q(), in.k(), in.v(), spec),
                        m.id() + " promises no masks/score mods, so it must refuse " + spec);
            } else {
                checkAgainstReference(spec.toString(), m, ops, in, spec);
            }
        }
    }

    // -------------------------------------------------------------------------------------------- structure

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void causalOutputsArePrefixInvariant(Mechanism m, VectorOps ops) {
        Assumptions.assumeTrue(m.supports(Pattern.CS), m.id() + " has no causal self pattern");
        Assumptions.assumeTrue(m.promises(Guarantee.PREFIX_INVARIANT), m.id() + " does not promise prefix invariance");
        int n = 200;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 1, 32));
        AttentionMechanism mechanism = m.create(engine(ops));
        Tensor full = mechanism.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        for (int i : new int[] {16, 17, 63, 64, 65, 130, 199}) {
            Tensor q = in.q().slice(1, 0, i + 1), k = in.k().slice(1, 0, i + 1), v = in.v().slice(1, 0, i + 1);
            Tensor prefix = mechanism.forward(q, k, v, AttentionSpec.causal()).output();
            assertClose("row " + i + " on the prefix", prefix.slice(1, i, i + 1), full.slice(1, i, i + 1),
                    PREFIX_TOLERANCE * magnitude(full, in.v()));
        }
    }

    /**
     * max(1, max |out| / max |v|): how far outputs exceed a convex combination of the values. Softmax attention
     * (exact or sparse) never does, so its tolerances stay as written; unnormalised outputs (linear attention
     * without a normaliser, decayed sums) grow with the length, float32 agrees to a relative 1e-7 or so whatever the
     * magnitude, and structural checks scale with it.
     */
    private static double magnitude(Tensor out, Tensor v) {
        double maxOut = 0, maxV = 0;
        for (float x : out.toArray()) {
            maxOut = Math.max(maxOut, Math.abs(x));
        }
        for (float x : v.toArray()) {
            maxV = Math.max(maxV, Math.abs(x));
        }
        return Math.max(1, maxOut / maxV);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void incrementalDecodeEqualsFull(Mechanism m, VectorOps ops) {
        Assumptions.assumeTrue(m.supports(Pattern.DECODE), m.id() + " does not decode");
        // an approximation decodes like its own prefill: only meaningful when its rows depend on the prefix alone
        Assumptions.assumeTrue(m.exact() || (m.supports(Pattern.CS) && m.promises(Guarantee.PREFIX_INVARIANT)),
                m.id() + " is approximate and not prefix invariant");
        int n = 700;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 8, 2, 64));
        AttentionMechanism mechanism = m.create(engine(ops));
        Tensor full = m.exact() ? reference(in, AttentionSpec.causal()).output()
                : mechanism.forward(in.q(), in.k(), in.v(), AttentionSpec.causal()).output();
        for (int t : new int[] {1, 5, 255, 256, 257, 512, 699}) {
            // the token at position t against the cache [0, t]
            Tensor q = in.q().slice(1, t, t + 1), k = in.k().slice(1, 0, t + 1), v = in.v().slice(1, 0, t + 1);
            Tensor step = mechanism.forward(q, k, v, AttentionSpec.causal()).output();
            assertClose("decode step " + t, step, full.slice(1, t, t + 1), 1e-5 * magnitude(full, in.v()));
        }
        // several new tokens at once (speculative decode): bottom-right causal
        Tensor q = in.q().slice(1, n - 4, n);
        Tensor block = mechanism.forward(q, in.k(), in.v(), AttentionSpec.causal()).output();
        assertClose("4 tokens at the end", block, full.slice(1, n - 4, n), 1e-5 * magnitude(full, in.v()));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void mergedSplitStatesEqualUnsplit(Mechanism m, VectorOps ops) {
        Assumptions.assumeTrue(m.lse(), m.id() + " returns no log-sum-exp");
        Pattern pattern = Calls.some(m, Pattern.NC, Pattern.DECODE);
        InputShape shape = Calls.shape(pattern, 40, 4, 2, 32);
        shape = new InputShape(1, shape.queryLength(), 300, 4, 2, 32, 32);
        AttentionInputs in = StandardInputs.random(Fresh.seed(), shape);
        AttentionMechanism mechanism = m.create(engine(ops));
        AttentionSpec spec = AttentionSpec.noncausal().returnLse();
        AttentionResult whole = mechanism.forward(in.q(), in.k(), in.v(), spec);
        List<PartialState> parts = new ArrayList<>();
        int[] cuts = {0, 1, 123, 200, 300};
        for (int c = 0; c + 1 < cuts.length; c++) {
            Tensor k = in.k().slice(1, cuts[c], cuts[c + 1]), v = in.v().slice(1, cuts[c], cuts[c + 1]);
            parts.add(mechanism.forward(in.q(), k, v, spec).partialState());
        }
        PartialState merged = PartialState.merge(parts);
        assertClose("merged output", merged.output(), whole.output(), 1e-5);
        assertClose("merged lse", merged.lse(), whole.lse(), 1e-4);
        assertClose("unsplit lse", whole.lse(), reference(in, spec).lse(), 1e-4);
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void groupedQueryAttentionEqualsRepeatedKv(Mechanism m, VectorOps ops) {
        Pattern pattern = Calls.some(m, Pattern.CS, Pattern.DECODE);
        AttentionInputs in = Calls.inputs(pattern, 90, 6, 2, 32);
        Tensor k = repeatHeads(in.k(), 3), v = repeatHeads(in.v(), 3);
        AttentionMechanism mechanism = m.create(engine(ops));
        AttentionSpec spec = Calls.spec(pattern);
        Tensor gqa = mechanism.forward(in.q(), in.k(), in.v(), spec).output();
        Tensor mha = mechanism.forward(in.q(), k, v, spec).output();
        assertClose("GQA vs MHA", gqa, mha, 1e-6);
        // MQA: one KV head for all query heads
        Tensor k1 = in.k().slice(2, 0, 1), v1 = in.v().slice(2, 0, 1);
        Tensor mqa = mechanism.forward(in.q(), k1, v1, spec).output();
        Tensor expanded = mechanism.forward(in.q(), repeatHeads(k1, 6), repeatHeads(v1, 6), spec).output();
        assertClose("MQA vs MHA", mqa, expanded, 1e-6);
    }

    /** [B, L, H, D] → [B, L, H·g, D] with head h copied to heads h·g … h·g + g − 1. */
    private static Tensor repeatHeads(Tensor t, int g) {
        int b = t.size(0), l = t.size(1), h = t.size(2), d = t.size(3);
        Tensor out = Tensor.zeros(b, l, h * g, d);
        for (int i = 0; i < h * g; i++) {
            out.slice(2, i, i + 1).copyFrom(t.slice(2, i / g, i / g + 1));
        }
        return out;
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void packedDocumentsEqualAPerDocumentLoop(Mechanism m, VectorOps ops) {
        Assumptions.assumeTrue(m.promises(Guarantee.PACKED_DOCUMENTS), m.id() + " does not promise packed documents");
        AttentionMechanism mechanism = m.create(engine(ops));
        if (m.supports(Pattern.CS) && m.supports(Pattern.NS)) {
            int[] lengths = {5, 64, 1, 77, 13};
            int[] offsets = offsets(lengths);
            int total = offsets[offsets.length - 1];
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, total, 4, 2, 32));
            for (boolean causal : new boolean[] {false, true}) {
                AttentionSpec packed = AttentionSpec.noncausal().causal(causal).mask(Masks.documents(offsets));
                Tensor out = mechanism.forward(in.q(), in.k(), in.v(), packed).output();
                for (int d = 0; d < lengths.length; d++) {
                    int from = offsets[d], to = offsets[d + 1];
                    Tensor alone = mechanism.forward(in.q().slice(1, from, to), in.k().slice(1, from, to),
                            in.v().slice(1, from, to), AttentionSpec.noncausal().causal(causal)).output();
                    assertClose("document " + d + (causal ? " causal" : ""), out.slice(1, from, to), alone, 1e-6);
                }
            }
        }
        if (m.supports(Pattern.DECODE)) {
            // varlen decode: one new token per sequence, caches of different lengths, packed in one batch row
            int[] cacheLengths = {50, 1, 249, 300};
            int[] keyOffsets = offsets(cacheLengths);
            int[] queryOffsets = {0, 1, 2, 3, 4};
            int total = keyOffsets[keyOffsets.length - 1];
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 4, total, 4, 2, 32));
            AttentionSpec packed = AttentionSpec.noncausal().mask(Masks.documents(queryOffsets, keyOffsets,
                    Masks.causal()));
            Tensor out = mechanism.forward(in.q(), in.k(), in.v(), packed).output();
            for (int d = 0; d < cacheLengths.length; d++) {
                Tensor alone = mechanism.forward(in.q().slice(1, d, d + 1),
                        in.k().slice(1, keyOffsets[d], keyOffsets[d + 1]),
                        in.v().slice(1, keyOffsets[d], keyOffsets[d + 1]), AttentionSpec.causal()).output();
                assertClose("sequence " + d, out.slice(1, d, d + 1), alone, 1e-6);
            }
        }
    }

    private static int[] offsets(int[] lengths) {
        int[] offsets = new int[lengths.length + 1];
        for (int i = 0; i < lengths.length; i++) {
            offsets[i + 1] = offsets[i] + lengths[i];
        }
        return offsets;
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void layoutsAgree(Mechanism m, VectorOps ops) {
        Pattern pattern = Calls.some(m, Pattern.CS, Pattern.DECODE);
        AttentionInputs in = Calls.inputs(pattern, 70, 4, 2, 32);
        AttentionMechanism mechanism = m.create(engine(ops));
        Tensor bshd = mechanism.forward(in.q(), in.k(), in.v(), Calls.spec(pattern)).output();
        // contiguous BHSD copies, and the output comes back in BHSD
        Tensor q = in.q().permute(0, 2, 1, 3).copy(), k = in.k().permute(0, 2, 1, 3).copy();
        Tensor v = in.v().permute(0, 2, 1, 3).copy();
        Tensor bhsd = mechanism.forward(q, k, v, Calls.spec(pattern).layout(Layout.BHSD)).output();
        assertBitIdentical("BHSD vs BSHD", bhsd.permute(0, 2, 1, 3).copy(), bshd);
    }

    // -------------------------------------------------------------------------------------------- observers

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void observersMatchTheReference(Mechanism m, VectorOps ops) {
        AttentionInputs in0 = Calls.inputs(Pattern.NS, 150, 4, 2, 32);
        AttentionSpec spec = AttentionSpec.causal().observe(Observers.columnMass(), Observers.entropy(),
                Observers.topK(5));
        AttentionMechanism mechanism = m.create(engine(ops));
        if (!m.observers()) {
            assertThrows(UnsupportedInputException.class,
                    () -> mechanism.forward(in0.q(), in0.k(), in0.v(), spec));
            return;
        }
        for (AttentionSpec s : List.of(spec, spec.mask(Masks.dilated(9, 2)), AttentionSpec.noncausal()
                .observe(Observers.entropy(), Observers.topK(3)).scoreMod(ScoreMods.softcap(3f)))) {
            AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, 150, 4, 2, 32));
            AttentionResult ours = mechanism.forward(in.q(), in.k(), in.v(), s);
            AttentionResult ref = reference(in, s);
            if (s.observer(io.attn4j.attention.Observer.ColumnMass.class) != null) {
                assertClose("column mass", ours.columnMass(), ref.columnMass(), 2e-4);
            }
            assertClose("entropy", ours.entropy(), ref.entropy(), 2e-4);
            var a = ours.topKeys();
            var b = ref.topKeys();
            for (int h = 0; h < 4; h++) {
                for (int q = 0; q < 150; q++) {
                    for (int r = 0; r < a.k(); r++) {
                        float wa = a.weight(0, h, q, r), wb = b.weight(0, h, q, r);
                        assertEquals(wb, wa, 1e-5, "top-k weight");
                        if (a.index(0, h, q, r) != b.index(0, h, q, r)) {
                            // only a near-tie may swap order
                            assertTrue(Math.abs(wa - b.weight(0, h, q, Math.min(a.k() - 1, r + 1))) < 1e-5
                                            || (r > 0 && Math.abs(wa - b.weight(0, h, q, r - 1)) < 1e-5),
                                    "top-k key at rank " + r + " of query " + q);
                        }
                    }
                }
            }
        }
    }

    // -------------------------------------------------------------------------------------------- concurrency

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void concurrentCallsAreBitIdenticalToSequentialOnes(Mechanism m, VectorOps ops) throws Exception {
        Pattern pattern = Calls.some(m, Pattern.CS, Pattern.DECODE);
        AttentionInputs in = Calls.inputs(pattern, 333, 4, 2, 64);
        AttentionSpec spec = m.lse() ? Calls.spec(pattern).returnLse() : Calls.spec(pattern);
        AttentionMechanism mechanism = m.create(engine(ops));
        Tensor sequential = mechanism.forward(in.q(), in.k(), in.v(), spec).output();
        ExecutorService callers = Executors.newFixedThreadPool(8);
        try {
            List<Callable<Tensor>> calls = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                calls.add(() -> mechanism.forward(in.q(), in.k(), in.v(), spec).output());
            }
            for (Future<Tensor> f : callers.invokeAll(calls)) {
                assertBitIdentical("concurrent call", f.get(), sequential);
            }
        } finally {
            callers.shutdownNow();
        }
        for (int threads : new int[] {1, 2, 5}) {
            Tensor other = m.create(Engine.of(ops, threads)).forward(in.q(), in.k(), in.v(), spec).output();
            assertBitIdentical(threads + " threads", other, sequential);
        }
    }

    // -------------------------------------------------------------------------------------------- bad input

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("mechanisms")
    void badInputIsRefusedClearlyAndNothingIsWritten(Mechanism m, VectorOps ops) {
        Pattern pattern = Calls.some(m, Pattern.CS, Pattern.DECODE);
        InputShape shape = Calls.shape(pattern, 20, 4, 2, 16);
        AttentionInputs in = StandardInputs.random(Fresh.seed(), shape);
        AttentionMechanism mechanism = m.create(engine(ops));
        AttentionSpec spec = Calls.spec(pattern);
        int lq = shape.queryLength(), lk = shape.keyLength();
        Tensor out = Tensor.zeros(1, lq, 4, 16);
        out.fill(42f);

        expectRefusal(mechanism, in.q(), Tensor.zeros(2, lk, 2, 16), in.v(), spec, out, "k batch");
        expectRefusal(mechanism, in.q(), in.k(), Tensor.zeros(1, lk + 1, 2, 16), spec, out, "v length");
        expectRefusal(mechanism, in.q(), Tensor.zeros(1, lk, 2, 8), in.v(), spec, out, "head dim");
        expectRefusal(mechanism, in.q(), Tensor.zeros(1, lk, 3, 16), Tensor.zeros(1, lk, 3, 16), spec, out,
                "multiple of KV heads");
        expectRefusal(mechanism, in.q(), Tensor.zeros(1, 0, 2, 16), Tensor.zeros(1, 0, 2, 16), spec, out, ">= 1");
        expectRefusal(mechanism, in.q(), in.k(), in.v(), spec, Tensor.zeros(1, lq, 4, 15), "out has shape");
        expectRefusal(mechanism, in.q(), in.k(), in.v(), spec, in.q(), "overlaps");
        expectRefusal(mechanism, in.q().reshape(lq, 4, 16), in.k(), in.v(), spec, out, "rank 4");
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (String name : new String[] {"q", "k", "v"}) {
                Tensor q = in.q().copy(), k = in.k().copy(), v = in.v().copy();
                Tensor target = name.equals("q") ? q : name.equals("k") ? k : v;
                target.set(bad, 0, target.size(1) - 1, 1, 3);
                expectRefusal(mechanism, q, k, v, spec, out, name + " holds " + bad);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> Masks.slidingWindow(-1));
        assertThrows(IllegalArgumentException.class, () -> Masks.slidingWindow(2, -3));
        assertThrows(IllegalArgumentException.class, () -> AttentionSpec.causal().scale(Float.NaN));
        // documents that do not fit the sequence
        expectRefusal(mechanism, in.q(), in.k(), in.v(),
                spec.mask(Masks.documents(new int[] {0, lq + 5}, new int[] {0, lk}, null)), out,
                m.promises(Guarantee.MASKS) || m.promises(Guarantee.PACKED_DOCUMENTS) ? "queryOffsets" : "mask");
        // a score mod for another head count
        expectRefusal(mechanism, in.q(), in.k(), in.v(), spec.scoreMod(ScoreMods.alibi(3)), out,
                m.promises(Guarantee.SCORE_MODS) ? "slopes" : "score mod");
    }

    private static void expectRefusal(AttentionMechanism mechanism, Tensor q, Tensor k, Tensor v, AttentionSpec spec,
                                      Tensor out, String messagePart) {
        float[] before = out.toArray();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> mechanism.forward(q, k, v, spec, out), "expected a refusal mentioning '" + messagePart + "'");
        assertTrue(e.getMessage().contains(messagePart), () -> "message '" + e.getMessage() + "' should mention '"
                + messagePart + "'");
        assertTrue(Arrays.equals(before, out.toArray()), "the output must be untouched after a refusal");
    }
}
