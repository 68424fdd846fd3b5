package io.attn4j.runtime;

import io.attn4j.simd.VectorOpsProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EngineTest {

    @Test
    void everyTaskRunsExactlyOnce() {
        for (int threads : new int[] {1, 2, 7}) {
            Engine engine = Engine.of(VectorOpsProvider.scalar(), threads);
            AtomicIntegerArray runs = new AtomicIntegerArray(1000);
            engine.parallelFor(1000, runs::incrementAndGet);
            for (int i = 0; i < 1000; i++) {
                assertEquals(1, runs.get(i), "task " + i + " with " + threads + " threads");
            }
            engine.parallelFor(0, t -> {
                throw new AssertionError("no task to run");
            });
        }
    }

    @Test
    void theFirstFailureIsRethrownAndStopsTheRest() {
        Engine engine = Engine.of(VectorOpsProvider.scalar(), 4);
        IllegalStateException boom = new IllegalStateException("boom");
        AtomicInteger started = new AtomicInteger();
        // each other task takes 2 ms, so running all 1000 would take 0.5 s on 4 threads; after the failure the
        // remaining ones are never started
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> engine.parallelFor(1000, t -> {
            started.incrementAndGet();
            if (t == 3) {
                throw boom;
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        assertSame(boom, thrown);
        assertTrue(started.get() < 1000, "tasks stop after a failure (" + started.get() + " started)");
    }

    @Test
    @Timeout(20)
    void nestedCallsOnASaturatedOneThreadExecutorDoNotDeadlock() {
        ExecutorService single = Executors.newSingleThreadExecutor();
        try {
            Engine engine = Engine.of(VectorOpsProvider.scalar(), 4).withExecutor(single);
            AtomicInteger leaves = new AtomicInteger();
            engine.parallelFor(8, outer -> engine.parallelFor(8, inner -> leaves.incrementAndGet()));
            assertEquals(64, leaves.get());
        } finally {
            single.shutdownNow();
        }
    }

    @Test
    void aShutDownExecutorLeavesTheWorkToTheCaller() {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        pool.shutdown();
        Engine engine = Engine.of(VectorOpsProvider.scalar(), 3).withExecutor(pool);
        AtomicInteger count = new AtomicInteger();
        engine.parallelFor(50, t -> count.incrementAndGet());
        assertEquals(50, count.get());
    }

    @Test
    void threadCountsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> Engine.of(VectorOpsProvider.scalar(), 0));
        assertEquals(3, Engine.defaults().withThreads(3).threads());
    }

    @Test
    void scratchIsPoisonedInTests() {
        assertTrue(Scratch.poisoned(), "the test build sets -Dattn4j.poisonScratch=true");
        float[] f = Scratch.get().floats(15, 10);
        f[0] = 1f;
        assertTrue(Float.isNaN(Scratch.get().floats(15, 10)[0]), "buffers are re-poisoned on every request");
        assertEquals(Scratch.POISON_INT, Scratch.get().ints(15, 4)[3]);
    }
}
