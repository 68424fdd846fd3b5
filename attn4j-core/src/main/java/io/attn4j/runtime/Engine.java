package io.attn4j.runtime;

import io.attn4j.simd.VectorOps;
import io.attn4j.simd.VectorOpsProvider;

import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Where kernels run: the {@link VectorOps} implementation, the number of threads a call may use, and the executor
 * that supplies them. Immutable and safe to share; many threads may call kernels on one engine at once.
 *
 * <p>{@link #parallelFor} is the only way kernels go parallel. The calling thread always works too, and helpers
 * that have not started by the time the caller runs out of tasks are cancelled rather than awaited, so a call
 * never waits on a queue: nested or concurrent calls cannot deadlock, whatever the executor. Each task index runs
 * exactly once, and kernels make every output depend only on its task index, so results are bit-identical whatever
 * the thread count or scheduling.
 *
 * <p>The default executor is a cached pool of daemon threads named {@code attn4j-worker-N}, shared by all engines
 * that do not bring their own; never the common fork-join pool.
 */
public final class Engine {
    private final VectorOps ops;
    private final int threads;
    private final Executor executor;

    private Engine(VectorOps ops, int threads, Executor executor) {
        this.ops = ops;
        this.threads = threads;
        this.executor = executor;
    }

    /** The default engine: {@link VectorOpsProvider#get()}, one thread per available processor, the shared pool. */
    public static Engine defaults() {
        return Defaults.ENGINE;
    }

    /** An engine with the given ops and thread count on the shared pool. */
    public static Engine of(VectorOps ops, int threads) {
        return new Engine(Objects.requireNonNull(ops, "ops"), checkThreads(threads), SharedPool.EXECUTOR);
    }

    /** This engine with another {@link VectorOps} implementation. */
    public Engine withOps(VectorOps newOps) {
        return new Engine(Objects.requireNonNull(newOps, "ops"), threads, executor);
    }

    /** This engine with another thread count (1 runs everything on the calling thread). */
    public Engine withThreads(int newThreads) {
        return new Engine(ops, checkThreads(newThreads), executor);
    }

    /** This engine with helpers taken from {@code newExecutor} instead of the shared pool. */
    public Engine withExecutor(Executor newExecutor) {
        return new Engine(ops, threads, Objects.requireNonNull(newExecutor, "executor"));
    }

    private static int checkThreads(int threads) {
        if (threads < 1 || threads > 4096) {
            throw new IllegalArgumentException("threads = " + threads + "; allowed: 1 to 4096");
        }
        return threads;
    }

    public VectorOps ops() {
        return ops;
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(t)} for every {@code t} in {@code [0, tasks)}, on up to {@link #threads()} threads
     * including the caller, and returns when all have finished. Tasks are handed out in index order, so kernels put
     * their largest tasks first. The first exception thrown by a task stops further tasks and is rethrown here.
     */
    public void parallelFor(int tasks, IntConsumer body) {
        if (tasks <= 0) {
            return;
        }
        int helpers = Math.min(threads, tasks) - 1;
        if (helpers <= 0) {
            for (int t = 0; t < tasks; t++) {
                body.accept(t);
            }
            return;
        }
        Run run = new Run(tasks, body, helpers);
        for (int i = 0; i < helpers; i++) {
            try {
                executor.execute(run::help);
            } catch (RejectedExecutionException e) {
                break; // the caller does the work itself; unclaimed helper slots are released in finish()
            }
        }
        run.work();
        run.finish();
    }

    /** One parallelFor call: a shared task counter, helper slots the caller can cancel, and the first failure. */
    private static final class Run {
        private final int tasks;
        private final IntConsumer body;
        private final int helpers;
        private final AtomicInteger next = new AtomicInteger();
        private final AtomicInteger unstarted;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private int finished;

        Run(int tasks, IntConsumer body, int helpers) {
            this.tasks = tasks;
            this.body = body;
            this.helpers = helpers;
            this.unstarted = new AtomicInteger(helpers);
        }

        void help() {
            int u;
            do {
                u = unstarted.get();
                if (u == 0) {
                    return; // the caller already finished and cancelled this slot
                }
            } while (!unstarted.compareAndSet(u, u - 1));
            try {
                work();
            } finally {
                synchronized (this) {
                    finished++;
                    notifyAll();
                }
            }
        }

        void work() {
            int t;
            while (failure.get() == null && (t = next.getAndIncrement()) < tasks) {
                try {
                    body.accept(t);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }
        }

        void finish() {
            int started = helpers - unstarted.getAndSet(0);
            boolean interrupted = false;
            synchronized (this) {
                while (finished < started) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        interrupted = true; // started helpers always finish; wait for them, then restore the flag
                    }
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            Throwable e = failure.get();
            if (e instanceof RuntimeException r) {
                throw r;
            }
            if (e instanceof Error err) {
                throw err;
            }
            if (e != null) {
                throw new IllegalStateException("a parallel task failed", e);
            }
        }
    }

    @Override
    public String toString() {
        return "Engine[ops=" + ops.name() + ", threads=" + threads + "]";
    }

    private static final class SharedPool {
        static final ExecutorService EXECUTOR = Executors.newCachedThreadPool(new java.util.concurrent.ThreadFactory() {
            private final AtomicInteger count = new AtomicInteger();

            @Override
            public Thread newThread(Runnable r) {
                Thread t = new Thread(r, "attn4j-worker-" + count.incrementAndGet());
                t.setDaemon(true);
                return t;
            }
        });
    }

    private static final class Defaults {
        static final Engine ENGINE = new Engine(VectorOpsProvider.get(),
                Runtime.getRuntime().availableProcessors(), SharedPool.EXECUTOR);
    }
}
