package io.attn4j.sparse;

import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import io.attn4j.testing.Fresh;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.attn4j.testing.Numerics.assertExact;

/** Sliding window and streaming are exact attention under their masks, at any length, window and sink count. */
class WindowsTest {

    @Test
    void aWindowIsExactAttentionUnderTheWindowMask() {
        Engine engine = Engine.defaults().withThreads(3);
        for (int n : new int[] {1, 63, 200, 1000}) {
            AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.self(1, n, 4, 2, 32));
            for (int w : new int[] {1, 7, 64, 130}) {
                for (AttentionSpec spec : List.of(AttentionSpec.causal(), AttentionSpec.noncausal())) {
                    Tensor ours = new SlidingWindow(SlidingWindow.Config.of(w), engine)
                            .forward(in.q(), in.k(), in.v(), spec).output();
                    AttentionSpec masked = spec.mask(Masks.slidingWindow(w));
                    assertExact("window " + w + " n=" + n + " " + spec, ours,
                            new NaiveAttention(engine).forward(in.q(), in.k(), in.v(), masked).output(),
                            new ReferenceAttention(engine).forward(in.q(), in.k(), in.v(), masked).output());
                }
            }
        }
    }

    @Test
    void streamingIsExactAttentionOnSinksOrWindow() {
        Engine engine = Engine.defaults().withThreads(3);
        for (int n : new int[] {5, 129, 700}) {
            AttentionInputs in = StandardInputs.structured(Fresh.seed(), InputShape.self(1, n, 4, 1, 32));
            for (int[] sw : new int[][] {{4, 16}, {1, 1}, {70, 64}, {0, 100}}) {
                AttentionSpec spec = AttentionSpec.causal();
                Tensor ours = new Streaming(Streaming.Config.of(sw[0], sw[1]), engine)
                        .forward(in.q(), in.k(), in.v(), spec).output();
                AttentionSpec masked = spec.mask(Masks.sinks(sw[0]).or(Masks.slidingWindow(sw[1])));
                assertExact("sinks " + sw[0] + " window " + sw[1] + " n=" + n, ours,
                        new NaiveAttention(engine).forward(in.q(), in.k(), in.v(), masked).output(),
                        new ReferenceAttention(engine).forward(in.q(), in.k(), in.v(), masked).output());
            }
        }
    }

    @Test
    void decodeAgainstACacheKeepsTheLastWindowAndTheSinks() {
        Engine engine = Engine.defaults();
        AttentionInputs in = StandardInputs.random(Fresh.seed(), InputShape.cross(1, 3, 500, 4, 2, 32));
        AttentionSpec spec = AttentionSpec.causal();
        Tensor ours = new Streaming(Streaming.Config.of(4, 50), engine).forward(in.q(), in.k(), in.v(), spec).output();
        AttentionSpec masked = spec.mask(Masks.sinks(4).or(Masks.slidingWindow(50)));
        assertExact("decode", ours, new NaiveAttention(engine).forward(in.q(), in.k(), in.v(), masked).output(),
                new ReferenceAttention(engine).forward(in.q(), in.k(), in.v(), masked).output());
    }
}
