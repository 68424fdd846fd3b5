package io.attn4j.catalog;

import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.sparse.BlockTopK;
import io.attn4j.sparse.Hip;
import io.attn4j.sparse.HyperAttention;
import io.attn4j.sparse.SlidingWindow;
import io.attn4j.sparse.Streaming;

import java.util.ArrayList;
import java.util.List;

/**
 * Every mechanism attn4j implements, by id. The shared conformance suite, the benchmarks and the report iterate
 * over {@link #all()}, so a mechanism added here is tested and measured with no other change.
 */
public final class Catalog {
    private static final List<Mechanism> ALL = List.of(
            ReferenceAttention.DESCRIPTOR,
            NaiveAttention.DESCRIPTOR,
            FlashAttention.DESCRIPTOR,
            LeanDecode.DESCRIPTOR,
            SlidingWindow.DESCRIPTOR,
            Streaming.DESCRIPTOR,
            BlockTopK.DESCRIPTOR,
            Hip.DESCRIPTOR,
            HyperAttention.DESCRIPTOR);

    private Catalog() {
    }

    /** Every mechanism, in catalog order. */
    public static List<Mechanism> all() {
        return ALL;
    }

    /** The mechanism with this id. */
    public static Mechanism get(String id) {
        for (Mechanism m : ALL) {
            if (m.id().equals(id)) {
                return m;
            }
        }
        List<String> ids = new ArrayList<>();
        ALL.forEach(m -> ids.add(m.id()));
        throw new IllegalArgumentException("no mechanism '" + id + "'; known: " + String.join(", ", ids));
    }
}
