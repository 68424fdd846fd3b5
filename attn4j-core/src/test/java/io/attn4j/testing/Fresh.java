package io.attn4j.testing;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Fresh seeds for every correctness check (BENCHMARKS.md: never reuse an input). The base comes from the clock, or
 * from {@code -Dattn4j.test.seed=N} to reproduce a failure; every assertion message carries its seed.
 */
public final class Fresh {
    private static final long BASE = Long.getLong("attn4j.test.seed", System.nanoTime());
    private static final AtomicLong COUNTER = new AtomicLong();

    private Fresh() {
    }

    /** A new seed. */
    public static long seed() {
        return BASE + COUNTER.incrementAndGet() * 0x9E3779B97F4A7C15L;
    }

    /** The base seed, for messages. */
    public static long base() {
        return BASE;
    }
}
