package io.attn4j.attention;

import io.attn4j.tensor.Layout;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PartialStateTest {

    @Test
    void mergeIsTheSoftmaxOfTheUnion() {
        // one query, one head: keys {a} with logit 1 and value 2, keys {b, c} with logits 0, 3 and values 4, -1
        double za = Math.exp(1), zb = Math.exp(0) + Math.exp(3);
        PartialState a = state(2f, (float) Math.log(za));
        PartialState b = state((float) ((4 * Math.exp(0) - Math.exp(3)) / zb), (float) Math.log(zb));
        PartialState ab = PartialState.merge(a, b);
        double expected = (2 * Math.exp(1) + 4 - Math.exp(3)) / (za + zb);
        assertEquals(expected, ab.output().get(0, 0, 0, 0), 1e-6);
        assertEquals(Math.log(za + zb), ab.lse().get(0, 0, 0), 1e-6);
    }

    @Test
    void anEmptyPartIsTheIdentity() {
        PartialState a = state(0.75f, 0.3f);
        PartialState empty = state(0f, Float.NEGATIVE_INFINITY);
        PartialState merged = PartialState.merge(empty, a);
        assertEquals(0.75f, merged.output().get(0, 0, 0, 0), 1e-7);
        assertEquals(0.3f, merged.lse().get(0, 0, 0), 1e-7);
        PartialState none = PartialState.merge(empty, empty);
        assertEquals(0f, none.output().get(0, 0, 0, 0));
        assertEquals(Float.NEGATIVE_INFINITY, none.lse().get(0, 0, 0));
    }

    @Test
    void mismatchedStatesAreRefused() {
        PartialState a = state(1f, 0f);
        PartialState other = new PartialState(Tensor.zeros(1, 2, 1, 1), Tensor.zeros(1, 1, 2), Layout.BSHD);
        assertThrows(IllegalArgumentException.class, () -> PartialState.merge(a, other));
        assertThrows(IllegalArgumentException.class,
                () -> new PartialState(Tensor.zeros(1, 2, 1, 1), Tensor.zeros(1, 1, 3), Layout.BSHD));
    }

    private static PartialState state(float output, float lse) {
        Tensor o = Tensor.zeros(1, 1, 1, 1);
        o.set(output, 0, 0, 0, 0);
        Tensor l = Tensor.zeros(1, 1, 1);
        l.set(lse, 0, 0, 0);
        return new PartialState(o, l, Layout.BSHD);
    }
}
