package io.attn4j.linear.aaren;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.runtime.Engine;
import io.attn4j.simd.VectorOps;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import io.attn4j.testing.SimdPaths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static io.attn4j.testing.Numerics.assertBitIdentical;
import static io.attn4j.testing.Numerics.assertClose;
import static io.attn4j.testing.Numerics.assertExact;
import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Aaren is exact softmax attention of the first query row over every prefix: every form equals causal
 * {@link ReferenceAttention} run with every query row replaced by the first, within FlashAttention's rule (error ≤
 * 2 × the naive float32 kernel's + 1e-6), at odd lengths, with GQA, in cross (CC) calls and on packed documents.
 */
class AarenTest {
    private static final List<Form> FORMS = List.of(Form.reference(), Form.recurrent(), Form.chunked(),
            Form.chunked(1), Form.chunked(7), Form.chunked(16));

    static List<VectorOps> paths() {
        return SimdPaths.all();
    }

    private static Aaren aaren(VectorOps ops, int threads) {
        return new Aaren(io.attn4j.linear.FormConfig.defaults(), Engine.of(ops, threads));
    }

    /** q with every row of every document replaced by the document's first row. */
    private static Tensor broadcastFirstRow(Tensor q, int[] offsets) {
        Tensor out = q.copy();
        for (int d = 0; d + 1 < offsets.length; d++) {
            for (int t = offsets[d]; t < offsets[d + 1]; t++) {
                out.slice(1, t, t + 1).copyFrom(q.slice(1, offsets[d], offsets[d] + 1));
            }
        }
        return out;
    }

    private static void assertEqualsExactAttention(String what, VectorOps ops, AttentionInputs in, AttentionSpec spec,
                                                   int[] queryOffsets) {
        Tensor q0 = broadcastFirstRow(in.q(), queryOffsets);
        Tensor reference = new ReferenceAttention(Engine.defaults()).forward(q0, in.k(), in.v(), spec).output();
        Tensor naive = new NaiveAttention(Engine.of(ops, 1)).forward(q0, in.k(), in.v(), spec).output();
        for (Form form : FORMS) {
            Tensor ours = aaren(ops, 3).run(in.q(), in.k(), in.v(), spec, null, form).output();
            assertExact(what + " " + form + " on " + ops.name(), ours, naive, reference);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void everyFormIsExactAttentionOfTheFirstQueryAtOddLengths(VectorOps ops) {
        for (int n : new int[] {1, 3, 17, 63, 65, 127, 1000, 4097}) {
            int heads = n > 1000 ? 1 : 4, kvHeads = n > 1000 ? 1 : 2;
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, heads, kvHeads, 64));
            assertEqualsExactAttention("CS n=" + n, ops, in, AttentionSpec.causal(), new int[] {0, n});
        }
        // batch 2, value dim ≠ head dim
        AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(2, 150, 150, 6, 3, 32, 24));
        assertEqualsExactAttention("B=2 Dv=24", ops, in, AttentionSpec.causal(), new int[] {0, 150});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void crossAndDecodeCallsAlignBottomRight(VectorOps ops) {
        for (int[] lengths : new int[][] {{40, 97}, {5, 300}, {1, 64}, {17, 18}}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, lengths[0], lengths[1], 4, 2,
                    32));
            assertEqualsExactAttention("Lq=" + lengths[0] + " Lk=" + lengths[1], ops, in, AttentionSpec.causal(),
                    new int[] {0, lengths[0]});
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void packedDocumentsUseTheirOwnFirstRow(VectorOps ops) {
        int[] offsets = {0, 5, 69, 70, 147, 160, 421};
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(2, 421, 4, 1, 32));
        assertEqualsExactAttention("packed", ops, in, AttentionSpec.causal().mask(Masks.documents(offsets)), offsets);
    }

    @Test
    void extremeScoresStayExact() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 500, 2, 1, 32));
        VectorOps ops = SimdPaths.all().getFirst();
        for (float s : new float[] {1e-4f, 30f}) {
            AttentionSpec spec = AttentionSpec.causal().scale(s);
            assertEqualsExactAttention("scale " + s, ops, in, spec, new int[] {0, 500});
        }
        // scale 300: logits reach thousands, and the state keeps its running max and log-sum-exp in float32 (the
        // family's rule), so each merge can move a weight by e^(half an ulp of the logit) — a relative 2^-24·|s|.
        // Naive float32 rounds its logits as coarsely but its realised error is luck: hold Aaren to the larger of
        // FlashAttention's rule and 2 · 2^-24 · max|s| (a CI run measured 6.6e-5 where that rule allowed 1.9e-5), and
        // require finite outputs
        AttentionSpec spec = AttentionSpec.causal().scale(300f);
        Tensor q0 = broadcastFirstRow(in.q(), new int[] {0, 500});
        Tensor reference = new ReferenceAttention(Engine.defaults()).forward(q0, in.k(), in.v(), spec).output();
        Tensor naive = new NaiveAttention(Engine.of(ops, 1)).forward(q0, in.k(), in.v(), spec).output();
        double maxLogit = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 500; j++) {
                double dot = 0;
                for (int c = 0; c < 32; c++) {
                    dot += (double) in.q().get(0, 0, h, c) * in.k().get(0, j, 0, c);
                }
                maxLogit = Math.max(maxLogit, Math.abs(300 * dot));
            }
        }
        double bound = Math.max(2 * relativeError(naive, reference) + 1e-6, Math.ulp(1f) * maxLogit);
        for (Form form : FORMS) {
            Tensor ours = aaren(ops, 3).run(in.q(), in.k(), in.v(), spec, null, form).output();
            io.attn4j.testing.Numerics.assertFinite(ours, "scale 300 " + form);
            double error = relativeError(ours, reference);
            assertTrue(error <= bound, "scale 300 " + form + ": error " + error + " exceeds " + bound + " (max |s| "
                    + maxLogit + ", seed base " + Fresh.base() + ")");
        }
    }

    @Test
    void aContinuedCallUsesTheStoredQueryNotItsFirstRow() {
        int n = 300, cut = 111;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
        AttentionInputs other = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
        for (Form form : FORMS) {
            Aaren a = aaren(SimdPaths.all().getFirst(), 3);
            RecurrentResult whole = a.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, form);
            RecurrentResult first = a.run(in.q().slice(1, 0, cut), in.k().slice(1, 0, cut), in.v().slice(1, 0, cut),
                    AttentionSpec.causal(), null, form);
            // the second call's query rows are unrelated tokens: only the state's query counts
            RecurrentResult second = a.run(other.q().slice(1, cut, n), in.k().slice(1, cut, n),
                    in.v().slice(1, cut, n), AttentionSpec.causal(), first.state(), form);
            assertClose(form + " first part", first.output(), whole.output().slice(1, 0, cut), 1e-6);
            assertClose(form + " continued part", second.output(), whole.output().slice(1, cut, n), 2e-6);
            // prefix invariance: row i of the prefix call equals row i of the whole
            for (int i : new int[] {0, 16, 64, 199}) {
                Tensor prefix = a.run(in.q().slice(1, 0, i + 1), in.k().slice(1, 0, i + 1), in.v().slice(1, 0, i + 1),
                        AttentionSpec.causal(), null, form).output();
                assertClose(form + " prefix row " + i, prefix.slice(1, i, i + 1), whole.output().slice(1, i, i + 1),
                        1e-6);
            }
        }
    }

    @Test
    void theStateHoldsTokensLogSumExpOutputAndQuery() {
        int n = 77, d = 16;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 1, d));
        float scale = (float) (1 / Math.sqrt(d));
        for (Form form : FORMS) {
            RecurrentResult r = aaren(SimdPaths.all().getFirst(), 2).run(in.q(), in.k(), in.v(),
                    AttentionSpec.causal(), null, form);
            LinearState s = r.state();
            assertEquals(2 * Aaren.entrySize(d, d), s.size());
            for (int h = 0; h < 2; h++) {
                int at = s.offset(0, 0) + h * Aaren.entrySize(d, d);
                assertEquals(n, s.data()[at], form + ": tokens");
                double max = Double.NEGATIVE_INFINITY;
                double[] x = new double[n];
                for (int t = 0; t < n; t++) {
                    for (int i = 0; i < d; i++) {
                        x[t] += (double) scale * in.q().get(0, 0, h, i) * in.k().get(0, t, 0, i);
                    }
                    max = Math.max(max, x[t]);
                }
                double sum = 0;
                for (double xt : x) {
                    sum += Math.exp(xt - max);
                }
                assertEquals(max + Math.log(sum), s.data()[at + 1], 1e-5, form + ": log-sum-exp");
                for (int c = 0; c < d; c++) {
                    assertEquals(r.output().get(0, n - 1, h, c), s.data()[at + 2 + c], 1e-6, form + ": o");
                    assertEquals(in.q().get(0, 0, h, c), s.data()[at + 2 + d + c], form + ": stored query");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void chunkedIsBitIdenticalForAnyThreadCount(VectorOps ops) {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, 3001, 1, 1, 32));
        Tensor one = aaren(ops, 1).run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.chunked()).output();
        Tensor three = aaren(ops, 3).run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.chunked())
                .output();
        assertBitIdentical("1 thread vs 3", one, three);
        assertTrue(one.firstNonFinite() == null);
    }
}
