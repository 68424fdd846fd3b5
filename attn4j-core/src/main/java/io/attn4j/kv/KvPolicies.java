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
            H2o.DESCRIPTOR,
            A2sf.DESCRIPTOR);

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

    /** H2O with {@code recentFraction} of the budget for recent rows, the rest for heavy hitters. */
    public static H2o h2o(double recentFraction) {
        return new H2o(new H2o.Config(recentFraction, 0));
    }

    /** A2SF with forgetting factor {@code alpha} and {@code recentFraction} of the budget for recent rows. */
    public static A2sf a2sf(double alpha, double recentFraction) {
        return new A2sf(new A2sf.Config(alpha, recentFraction, 0));
    }
}
