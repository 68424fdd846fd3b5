package io.attn4j.catalog;

import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.attention.exact.LeanDecode;
import io.attn4j.attention.exact.NaiveAttention;
import io.attn4j.attention.exact.ReferenceAttention;
import io.attn4j.attention.AttentionMechanism;
import io.attn4j.linear.aaren.Aaren;
import io.attn4j.linear.based.Based;
import io.attn4j.linear.flow.FlowAttention;
import io.attn4j.linear.gla.Gla;
import io.attn4j.linear.hedgehog.Hedgehog;
import io.attn4j.linear.inline.InLine;
import io.attn4j.linear.lightnet.LightNet;
import io.attn4j.linear.lightning.Lightning;
import io.attn4j.linear.linear.LinearAttention;
import io.attn4j.linear.mamba.Mamba;
import io.attn4j.linear.performer.Performer;
import io.attn4j.runtime.Engine;
import io.attn4j.sparse.AgentAttention;
import io.attn4j.sparse.BlockTopK;
import io.attn4j.sparse.BudgetedConfig;
import io.attn4j.sparse.KeyBudget;
import io.attn4j.sparse.Hip;
import io.attn4j.sparse.HyperAttention;
import io.attn4j.sparse.Moa;
import io.attn4j.sparse.NeighborhoodAttention;
import io.attn4j.sparse.Routing;
import io.attn4j.sparse.S2Attention;
import io.attn4j.sparse.SlidingWindow;
import io.attn4j.sparse.SpAtten;
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
            HyperAttention.DESCRIPTOR,
            Routing.DESCRIPTOR,
            Moa.DESCRIPTOR,
            SpAtten.DESCRIPTOR,
            AgentAttention.DESCRIPTOR,
            NeighborhoodAttention.DESCRIPTOR,
            S2Attention.DESCRIPTOR,
            LinearAttention.DESCRIPTOR,
            Performer.DESCRIPTOR,
            Lightning.DESCRIPTOR,
            Gla.DESCRIPTOR,
            Based.DESCRIPTOR,
            Hedgehog.DESCRIPTOR,
            FlowAttention.DESCRIPTOR,
            InLine.DESCRIPTOR,
            Mamba.DESCRIPTOR,
            Aaren.DESCRIPTOR,
            LightNet.DESCRIPTOR);

    private Catalog() {
    }

    /** Every mechanism, in catalog order. */
    public static List<Mechanism> all() {
        return ALL;
    }

    /**
     * An instance from a mechanism spec: a catalog id, optionally with a key budget after {@code @} for mechanisms
     * whose configuration takes one ({@code hip@25%}, {@code block-topk@0.1}, {@code sliding-window@1024}).
     *
     * @throws IllegalArgumentException for an unknown id, an invalid budget, or a budget given to a mechanism that
     *                                  takes none
     */
    public static AttentionMechanism create(String spec, Engine engine) {
        Mechanism m = get(idOf(spec));
        int at = spec.indexOf('@');
        if (at < 0) {
            return m.create(engine);
        }
        if (!(m.defaults() instanceof BudgetedConfig budgeted)) {
            throw new IllegalArgumentException("'" + spec + "': " + m.id() + " takes no key budget; allowed: a budget "
                    + "only for " + String.join(", ", ALL.stream().filter(x -> x.defaults() instanceof BudgetedConfig)
                    .map(Mechanism::id).toList()));
        }
        return m.create(budgeted.withKeyBudget(KeyBudget.parse(spec.substring(at + 1))), engine);
    }

    /** The catalog id of a mechanism spec ({@code hip@25%} → {@code hip}). */
    public static String idOf(String spec) {
        int at = spec.indexOf('@');
        return at < 0 ? spec : spec.substring(0, at);
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
