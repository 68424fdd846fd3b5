package io.attn4j.linear.flow;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.linear.Form;
import io.attn4j.linear.LinearState;
import io.attn4j.linear.RecurrentResult;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.attn4j.testing.Numerics.relativeError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Flow-Attention against direct O(n²) float64 evaluations of its definitions (noncausal and causal), the
 * conservation of flows, prefix invariance and why a stateless decode differs from prefill.
 */
class FlowAttentionTest {
    private static final List<Form> FORMS = List.of(Form.reference(), Form.recurrent(), Form.chunked(),
            Form.chunked(7), Form.chunked(1));

    private final FlowAttention flow = new FlowAttention(io.attn4j.linear.FormConfig.defaults(), Engine.defaults());

    private static double phi(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static double[][] features(Tensor t, int h) {
        double[][] f = new double[t.size(1)][t.size(3)];
        for (int i = 0; i < f.length; i++) {
            for (int x = 0; x < f[i].length; x++) {
                f[i][x] = phi(t.get(0, i, h, x));
            }
        }
        return f;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /** The paper's noncausal equations, head by head, with explicit n × m flow matrices. */
    static Tensor directNoncausal(AttentionInputs in) {
        Tensor q = in.q(), k = in.k(), v = in.v();
        int m = q.size(1), n = k.size(1), heads = q.size(2), group = heads / k.size(2), dv = v.size(3);
        Tensor out = Tensor.zeros(1, m, heads, dv);
        for (int h = 0; h < heads; h++) {
            double[][] fq = features(q, h), fk = features(k, h / group);
            double[][] flow = new double[m][n]; // φ(q_i)·φ(k_j)
            double[] in0 = new double[m], out0 = new double[n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    flow[i][j] = dot(fq[i], fk[j]);
                    in0[i] += flow[i][j];
                    out0[j] += flow[i][j];
                }
            }
            double[] inHat = new double[m], outHat = new double[n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    inHat[i] += flow[i][j] / out0[j];
                    outHat[j] += flow[i][j] / in0[i];
                }
            }
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double o : outHat) {
                max = Math.max(max, o);
            }
            for (double o : outHat) {
                sum += Math.exp(o - max);
            }
            for (int i = 0; i < m; i++) {
                double allocation = phi(inHat[i]);
                for (int x = 0; x < dv; x++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) {
                        double competition = n * Math.exp(outHat[j] - max) / sum;
                        acc += flow[i][j] * competition * v.get(0, j, h / group, x);
                    }
                    out.set((float) (allocation * acc / in0[i]), 0, i, h, x);
                }
            }
        }
        return out;
    }

    /** The causal equations of the class Javadoc for self-attention (position = index, counts = index + 1). */
    static Tensor directCausal(AttentionInputs in) {
        Tensor q = in.q(), k = in.k(), v = in.v();
        int n = q.size(1), heads = q.size(2), group = heads / k.size(2), dv = v.size(3);
        Tensor out = Tensor.zeros(1, n, heads, dv);
        for (int h = 0; h < heads; h++) {
            double[][] fq = features(q, h), fk = features(k, h / group);
            double[] in0 = new double[n], out0 = new double[n];
            for (int t = 0; t < n; t++) {
                for (int j = 0; j <= t; j++) {
                    in0[t] += dot(fq[t], fk[j]);
                    out0[t] += dot(fk[t], fq[j]);
                }
            }
            double[] inHat = new double[n], outHat = new double[n], c = new double[n];
            for (int t = 0; t < n; t++) {
                for (int j = 0; j <= t; j++) {
                    inHat[t] += dot(fq[t], fk[j]) * (j + 1) / out0[j];
                    outHat[t] += dot(fk[t], fq[j]) * (j + 1) / in0[j];
                }
                inHat[t] /= t + 1;
                outHat[t] /= t + 1;
            }
            for (int t = 0; t < n; t++) {
                double sum = 0;
                for (int j = 0; j <= t; j++) {
                    sum += Math.exp(outHat[j]);
                }
                c[t] = (t + 1) * Math.exp(outHat[t]) / sum;
            }
            for (int t = 0; t < n; t++) {
                for (int x = 0; x < dv; x++) {
                    double acc = 0;
                    for (int j = 0; j <= t; j++) {
                        acc += dot(fq[t], fk[j]) * c[j] * v.get(0, j, h / group, x);
                    }
                    out.set((float) (phi(inHat[t]) * acc / in0[t]), 0, t, h, x);
                }
            }
        }
        return out;
    }

    @Test
    void everyFormMatchesTheNoncausalEquations() {
        for (InputShape shape : List.of(InputShape.self(1, 37, 4, 2, 16), InputShape.cross(1, 23, 61, 2, 1, 16))) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(1, shape.queryLength(),
                    shape.keyLength(), shape.heads(), shape.kvHeads(), 16, 12));
            Tensor direct = directNoncausal(in);
            for (Form form : FORMS) {
                Tensor ours = flow.run(in.q(), in.k(), in.v(), AttentionSpec.noncausal(), null, form).output();
                double e = relativeError(ours, direct);
                assertTrue(e <= 1e-5, form + " " + shape + ": error " + e);
            }
        }
    }

    @Test
    void everyFormMatchesTheCausalEquations() {
        AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(1, 150, 150, 4, 2, 16, 8));
        Tensor direct = directCausal(in);
        for (Form form : FORMS) {
            Tensor ours = flow.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, form).output();
            double e = relativeError(ours, direct);
            assertTrue(e <= 1e-5, form + ": error " + e);
        }
    }

    @Test
    void conservedFlowsAddUpToTheCounts() {
        // Σ_i Î_i = n (every key sends out one unit) and Σ_j Ô_j = m (every query receives one), read from the
        // final state: Σ_i Î_i = Σφ(q)·A / m and Σ_j Ô_j = Σφ(k)·B / n
        int m = 29, n = 71, d = 16, dv = 4;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), new InputShape(1, m, n, 1, 1, d, dv));
        for (Form form : FORMS) {
            LinearState s = flow.run(in.q(), in.k(), in.v(), AttentionSpec.noncausal(), null, form).state();
            float[] x = s.data();
            double incoming = 0, outgoing = 0;
            for (int i = 0; i < d; i++) {
                incoming += (double) x[d + i] * x[2 * d + i] / m;
                outgoing += (double) x[i] * x[3 * d + i] / n;
            }
            assertEquals(n, incoming, 1e-4 * n, form + ": conserved incoming flow");
            assertEquals(m, outgoing, 1e-4 * m, form + ": conserved outgoing flow");
            int counts = 4 * d + d * dv + 2;
            assertEquals(n, x[counts], 0, "key count");
            assertEquals(m, x[counts + 1], 0, "query count");
        }
    }

    @Test
    void causalRowsDependOnThePrefixOnlyAndDecodeNeedsTheState() {
        int n = 120;
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 2, 1, 16));
        RecurrentResult full = flow.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.chunked());
        for (int i : new int[] {0, 16, 63, 64, 119}) {
            Tensor prefix = flow.run(in.q().slice(1, 0, i + 1), in.k().slice(1, 0, i + 1), in.v().slice(1, 0, i + 1),
                    AttentionSpec.causal(), null, Form.chunked()).output();
            double e = relativeError(prefix.slice(1, i, i + 1), full.output().slice(1, i, i + 1));
            assertTrue(e <= 1e-5, "row " + i + " on its prefix: error " + e);
        }
        // decode from the prefill's state equals the full call; against a bare key cache it does not (the cached
        // keys have no queries, so their outgoing flows and competition differ)
        int t = 100;
        RecurrentResult head = flow.run(in.q().slice(1, 0, t), in.k().slice(1, 0, t), in.v().slice(1, 0, t),
                AttentionSpec.causal(), null, Form.chunked());
        Tensor step = flow.run(in.q().slice(1, t, t + 1), in.k().slice(1, t, t + 1), in.v().slice(1, t, t + 1),
                AttentionSpec.causal(), head.state(), Form.recurrent()).output();
        assertTrue(relativeError(step, full.output().slice(1, t, t + 1)) <= 1e-5, "decode with the state");
        Tensor bare = flow.run(in.q().slice(1, t, t + 1), in.k().slice(1, 0, t + 1), in.v().slice(1, 0, t + 1),
                AttentionSpec.causal(), null, Form.chunked()).output();
        assertTrue(relativeError(bare, full.output().slice(1, t, t + 1)) > 1e-3, "a bare cache lacks the queries");
    }

    @Test
    void crossAndDecodeCallsAgreeAcrossForms() {
        for (int[] lengths : new int[][] {{5, 40}, {40, 9}, {1, 33}}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(2, lengths[0], lengths[1], 4,
                    2, 16));
            Tensor ref = flow.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, Form.reference()).output();
            for (Form form : FORMS) {
                Tensor ours = flow.run(in.q(), in.k(), in.v(), AttentionSpec.causal(), null, form).output();
                double e = relativeError(ours, ref);
                assertTrue(e <= 1e-5, form + " Lq=" + lengths[0] + " Lk=" + lengths[1] + ": error " + e);
            }
        }
    }
}
