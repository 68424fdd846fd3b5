package io.attn4j.bench.jmh;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.catalog.Catalog;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.inputs.StandardInputs;
import io.attn4j.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Whole attention calls on all cores: prefill through {@code flash} and {@code naive}, decode through {@code lean}
 * (one token, 32 query heads over 8 KV heads, D = 128). Run: {@code ./attn4j jmh AttentionKernels -f 1}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
public class AttentionKernels {

    @State(Scope.Benchmark)
    public static class Prefill {
        @Param({"flash", "naive"})
        public String mechanism;

        @Param({"1024", "4096"})
        public int n;

        @Param({"true", "false"})
        public boolean causal;

        AttentionMechanism attention;
        AttentionInputs in;
        AttentionSpec spec;
        Tensor out;

        @Setup
        public void setUp() {
            attention = Catalog.get(mechanism).create();
            in = StandardInputs.random(1, InputShape.self(1, n, 8, 8, 64));
            spec = (causal ? AttentionSpec.causal() : AttentionSpec.noncausal()).checkFinite(false);
            out = Tensor.zeros(1, n, 8, 64);
        }
    }

    @State(Scope.Benchmark)
    public static class Decode {
        @Param({"8192", "131072"})
        public int cache;

        AttentionMechanism attention;
        AttentionInputs in;
        Tensor out;

        @Setup
        public void setUp() {
            attention = Catalog.get("lean").create();
            in = StandardInputs.random(1, InputShape.cross(1, 1, cache, 32, 8, 128));
            out = Tensor.zeros(1, 1, 32, 128);
        }
    }

    @Benchmark
    public Tensor prefill(Prefill s) {
        return s.attention.forward(s.in.q(), s.in.k(), s.in.v(), s.spec, s.out).output();
    }

    @Benchmark
    public Tensor decode(Decode s) {
        return s.attention.forward(s.in.q(), s.in.k(), s.in.v(), AttentionSpec.causal().checkFinite(false), s.out)
                .output();
    }
}
