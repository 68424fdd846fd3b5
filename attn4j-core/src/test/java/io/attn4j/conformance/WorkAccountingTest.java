package io.attn4j.conformance;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.UnsupportedInputException;
import io.attn4j.attention.Work;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.RecurrentMechanism;
import io.attn4j.sparse.KeptKeys;
import io.attn4j.sparse.SparseAttention;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every mechanism of the catalog counts its work as it computes it ({@link AttentionMechanism#work}), so that no
 * benchmark credits a mechanism with work it skipped: exact mechanisms the mask's area; sparse ones exactly the
 * pairs they keep (those that estimate the rest, at least the scores of their kept keys and at most twice their
 * pairs' full cost), never more than the visible area when they compute exact softmax on a selection; pooled and
 * linear forms a count that grows linearly with the length. Patterns a mechanism refuses are refused by its count
 * too. Checks are chosen by what the descriptor and the mechanism's interfaces say, never by name.
 */
class WorkAccountingTest {

    static List<Mechanism> mechanisms() {
        return Catalog.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mechanisms")
    void workIsCountedAsTheMechanismComputesIt(Mechanism m) {
        AttentionMechanism mechanism = m.create();
        for (Pattern pattern : Pattern.values()) {
            InputShape shape = Calls.shape(pattern, 37, 4, 2, 32);
            AttentionInputs in = StandardInputs.random(Fresh.seed(), shape);
            AttentionSpec spec = Calls.spec(pattern);
            String what = m.id() + " " + pattern.id();
            if (!m.supports(pattern)) {
                assertThrows(UnsupportedInputException.class, () -> mechanism.work(in.q(), in.k(), in.v(), spec),
                        what + ": a refused pattern has no work");
                continue;
            }
            Work work = mechanism.work(in.q(), in.k(), in.v(), spec);
            Work dense = Work.dense(Work.Shape.of(in.q(), in.k(), in.v(), spec), spec);
            assertTrue(work.flops() > 0 && Double.isFinite(work.totalFlops()) && work.bytes() > 0, what + ": " + work);
            assertTrue(!work.rule().isBlank(), what);
            if (m.exact()) {
                assertEquals(dense, work, what + ": exact attention counts the mask's area");
            } else if (mechanism instanceof SparseAttention sparse) {
                KeptKeys kept = sparse.keptKeys(in.q(), in.k(), in.v(), spec);
                long pairs = count(kept, shape);
                double perPair = 2.0 * (shape.headDim() + shape.valueDim());
                if (kept.exactOnKept()) {
                    assertEquals(perPair * pairs, work.flops(), 1e-9 * work.flops(), what + ": the kept pairs");
                    assertTrue(work.flops() <= dense.flops(), what + ": a selection of the visible pairs");
                } else {
                    assertTrue(work.flops() >= 2.0 * shape.headDim() * pairs && work.flops() <= 2 * perPair * pairs,
                            what + ": scores of every kept pair, at most twice their full cost: " + work.flops()
                                    + " for " + pairs + " pairs");
                }
            }
        }
    }

    /** Linear and pooled forms: their count grows linearly with the length (4× from 4096 to 16384 tokens). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("mechanisms")
    void linearFormsCountWorkLinearInTheLength(Mechanism m) {
        AttentionMechanism mechanism = m.create();
        if (m.exact() || mechanism instanceof SparseAttention) {
            return;
        }
        Pattern pattern = m.supports(Pattern.CS) ? Pattern.CS : Pattern.NS;
        boolean causal = pattern == Pattern.CS;
        double[] flops = new double[2];
        int[] lengths = {4096, 16384};
        for (int i = 0; i < 2; i++) {
            int n = lengths[i];
            Work.Shape s = new Work.Shape(1, n, n, 8, 8, 64, 64);
            flops[i] = mechanism instanceof RecurrentMechanism recurrent
                    ? recurrent.work(s, causal, Form.chunked()).totalFlops()
                    : mechanism.work(io.attn4j.tensor.Tensor.zeros(1, n, 8, 64), io.attn4j.tensor.Tensor.zeros(1, n, 8,
                    64), io.attn4j.tensor.Tensor.zeros(1, n, 8, 64), causal ? AttentionSpec.causal()
                    : AttentionSpec.noncausal()).totalFlops();
        }
        double ratio = flops[1] / flops[0];
        assertTrue(ratio > 3.9 && ratio < 4.1, m.id() + ": 4× the tokens, " + ratio + "× the work");
        double quadratic = Work.dense(new Work.Shape(1, 16384, 16384, 8, 8, 64, 64), causal ? AttentionSpec.causal()
                : AttentionSpec.noncausal()).flops();
        assertTrue(flops[1] < quadratic, m.id() + ": at 16K tokens less work than exact attention (" + flops[1]
                + " against " + quadratic + ")");
    }

    private static long count(KeptKeys kept, InputShape s) {
        long pairs = 0;
        for (int b = 0; b < s.batch(); b++) {
            for (int h = 0; h < s.heads(); h++) {
                for (int q = 0; q < s.queryLength(); q++) {
                    for (int k = 0; k < s.keyLength(); k++) {
                        pairs += kept.kept(b, h, q, k) ? 1 : 0;
                    }
                }
            }
        }
        return pairs;
    }
}
