package io.attn4j.kv;

import java.util.ArrayList;
import java.util.List;

/**
 * Every KV policy of the catalog (section 7 of CATALOG.md), by id, and the factories the design names
 * ({@code cache.compress(KvPolicies.snapKv(window, pool), Budget.tokens(2048))}).
 */
public final class KvPolicies {
    private static final List<KvPolicyDescriptor> ALL = List.of(
            FullCache.DESCRIPTOR,
            StreamingLlm.DESCRIPTOR,
            TaskKv.DESCRIPTOR,
            MoaKv.DESCRIPTOR,
            Recycled.DESCRIPTOR);

    private KvPolicies() {
    }

    /** Every policy, in catalog order. */
    public static List<KvPolicyDescriptor> all() {
        return ALL;
    }

    /** The policy entry with this id. */
    public static KvPolicyDescriptor get(String id) {
        for (KvPolicyDescriptor d : ALL) {
            if (d.id().equals(id)) {
                return d;
            }
        }
        List<String> ids = new ArrayList<>();
        ALL.forEach(d -> ids.add(d.id()));
        throw new IllegalArgumentException("no KV policy '" + id + "'; known: " + String.join(", ", ids));
    }

    /** The policy with this id at its defaults. */
    public static KvPolicy create(String id) {
        return get(id).create();
    }

    public static KvPolicy full() {
        return new FullCache();
    }

    public static StreamingLlm streaming(int sinks) {
        return new StreamingLlm(new StreamingLlm.Config(sinks));
    }

    public static TaskKv taskKv(double threshold, int sinks, int recent, int middle, int window) {
        return new TaskKv(new TaskKv.Config(threshold, sinks, recent, middle, window));
    }

    /** MoA's spans for one layer (as {@code MoaProfiler} writes them), fitted to the budget. */
    public static MoaKv moaKv(io.attn4j.sparse.Moa.Config layer) {
        return new MoaKv(MoaKv.Config.of(layer));
    }

    public static Recycled recycled(int stride, int topK) {
        return new Recycled(new Recycled.Config(stride, topK));
    }
}
