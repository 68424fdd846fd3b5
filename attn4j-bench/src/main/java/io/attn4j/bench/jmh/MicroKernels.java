package io.attn4j.bench.jmh;

import io.attn4j.simd.VectorOps;
import io.attn4j.simd.VectorOpsProvider;
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

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The micro-kernels of one 64 × 64 flash tile and one decode tile, on each SIMD path. The operands are laid out as
 * in the kernels (key and value rows {@code heads·D} apart, as in a BSHD tensor with 8 heads).
 * Run: {@code ./attn4j jmh MicroKernels -f 1 -wi 3 -i 5}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
public class MicroKernels {
    @Param({"panama", "scalar"})
    public String simd;

    @Param({"64", "128"})
    public int dim;

    private static final int BLOCK = 64, HEADS = 8;
    private VectorOps ops;
    private float[] qT, keys, values, scores, scoresCopy, out, max, sum, alpha, queries, rowScores;

    @Setup
    public void setUp() {
        ops = simd.equals("scalar") ? VectorOpsProvider.scalar() : VectorOpsProvider.panama().orElseThrow();
        SplittableRandom r = new SplittableRandom(1);
        qT = gaussian(r, dim * BLOCK);
        keys = gaussian(r, BLOCK * HEADS * dim);
        values = gaussian(r, BLOCK * HEADS * dim);
        scores = gaussian(r, BLOCK * BLOCK);
        scoresCopy = scores.clone();
        out = new float[BLOCK * dim];
        max = new float[BLOCK];
        sum = new float[BLOCK];
        alpha = new float[BLOCK];
        queries = gaussian(r, 4 * dim);
        rowScores = new float[4 * 128];
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** QKᵀ of a tile: 2·64·64·D flops. */
    @Benchmark
    public float scoresTransposed() {
        ops.scoresTransposed(qT, 0, BLOCK, BLOCK, keys, 0, HEADS * dim, BLOCK, dim, scores, 0, BLOCK);
        return scores[7];
    }

    /** PV of a tile: 2·64·64·D flops. */
    @Benchmark
    public float accumulateTransposed() {
        ops.accumulateTransposed(scoresCopy, 0, BLOCK, BLOCK, BLOCK, values, 0, HEADS * dim, dim, out, 0, dim);
        return out[3];
    }

    /** The online-softmax step of a tile (first tile of a block: every maximum moves, every row rescales). */
    @Benchmark
    public float softmaxTile() {
        System.arraycopy(scoresCopy, 0, scores, 0, scores.length);
        Arrays.fill(max, -1e30f);
        ops.onlineSoftmaxTransposed(scores, 0, BLOCK, BLOCK, BLOCK, 0, null, null, max, sum, null, alpha, out, dim,
                dim);
        return sum[5];
    }

    /** Decode scores: 4 queries of a GQA group against 128 keys. */
    @Benchmark
    public float scoresRows() {
        ops.scoresRows(queries, 0, dim, 4, keys, 0, dim, BLOCK * HEADS / 4, dim, rowScores, 0, 128);
        return rowScores[1];
    }
}
