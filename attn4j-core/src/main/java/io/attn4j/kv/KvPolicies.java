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
            Razor.DESCRIPTOR,
            Duo.DESCRIPTOR);

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

    /** RazorAttention for layer {@code layer} of a model with these head scores, other settings at defaults. */
    public static Razor razor(HeadScores scores, int layer) {
        return new Razor(Razor.Config.defaults().withScores(scores, layer));
    }

    /** DuoAttention for layer {@code layer} of a model with these head scores, other settings at defaults. */
    public static Duo duo(HeadScores scores, int layer) {
        return new Duo(Duo.Config.defaults().withScores(scores, layer));
    }
}
