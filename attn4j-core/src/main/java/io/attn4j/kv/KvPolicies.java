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
            A2sf.DESCRIPTOR,
            SnapKv.DESCRIPTOR,
            Razor.DESCRIPTOR,
            Duo.DESCRIPTOR,
            TaskKv.DESCRIPTOR,
            Recycled.DESCRIPTOR,
            MoaKv.DESCRIPTOR,
            Quantized.DESCRIPTOR);

    private KvPolicies() {
    }

    /** Every policy, in the order of CATALOG.md's section 7. */
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

    /** The policy with this id at its defaults (razor and duo refuse: they need head scores, see below). */
    public static KvPolicy create(String id) {
        return get(id).create();
    }

    /**
     * The policy with this id at its defaults, calibrated where it needs a calibration run: {@code razor} and
     * {@code duo} get head scores from {@link HeadScores#calibrate} on {@code calibration} (its needle queries, or
     * its last queries; the default calibration window) as layer 0. {@code calibration} must have the KV heads of
     * the caches the policy will compress; other policies ignore it.
     */
    public static KvPolicy create(String id, io.attn4j.inputs.AttentionInputs calibration,
                                  io.attn4j.runtime.Engine engine) {
        return switch (id) {
            case "razor" -> razor(HeadScores.calibrate(calibration, HeadScores.Calibration.defaults(), engine), 0);
            case "duo" -> duo(HeadScores.calibrate(calibration, HeadScores.Calibration.defaults(), engine), 0);
            default -> create(id);
        };
    }

    public static KvPolicy full() {
        return new FullCache();
    }

    public static StreamingLlm streaming(int sinks) {
        return new StreamingLlm(new StreamingLlm.Config(sinks));
    }

    /** SnapKV with an observation window of {@code window} queries and a pooling kernel of {@code kernel}. */
    public static SnapKv snapKv(int window, int kernel) {
        return new SnapKv(new SnapKv.Config(window, kernel, SnapKv.Config.defaults().pooling()));
    }

    /** SnapKV with every setting given. */
    public static SnapKv snapKv(int window, int kernel, SnapKv.Pooling pooling) {
        return new SnapKv(new SnapKv.Config(window, kernel, pooling));
    }

    /** int8 or int4 K/V with groups of {@code groupSize} elements. */
    public static Quantized quantized(KvFormat.Precision precision, int groupSize) {
        return new Quantized(new Quantized.Config(precision, groupSize));
    }

    /** Task-KV with every setting given (see {@link TaskKv.Config}). */
    public static TaskKv taskKv(double threshold, int sinks, int recent, int middle, int window) {
        return new TaskKv(new TaskKv.Config(threshold, sinks, recent, middle, window));
    }

    /** MoA's spans for one layer (as {@code MoaProfiler} writes them), fitted to the budget. */
    public static MoaKv moaKv(io.attn4j.sparse.Moa.Config layer) {
        return new MoaKv(MoaKv.Config.of(layer));
    }

    /** Recycled Attention: a full step every {@code stride} steps records the top {@code topK} rows per head. */
    public static Recycled recycled(int stride, int topK) {
        return new Recycled(new Recycled.Config(stride, topK));
    }

    /** RazorAttention for layer {@code layer} of a model with these head scores, other settings at defaults. */
    public static Razor razor(HeadScores scores, int layer) {
        return new Razor(Razor.Config.defaults().withScores(scores, layer));
    }

    /** DuoAttention for layer {@code layer} of a model with these head scores, other settings at defaults. */
    public static Duo duo(HeadScores scores, int layer) {
        return new Duo(Duo.Config.defaults().withScores(scores, layer));
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
