package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * The baseline: keep every row. Compression is a no-op whatever the budget, so the cache grows by one row per head
 * per token, contiguous or paged, and decode is exact attention over everything.
 *
 * <p><b>Complexity.</b> Compression O(1); memory {@code n · bytesPerRow} per head.
 */
public final class FullCache implements KvPolicy {

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("full", "full cache (baseline)",
            "none: the uncompressed cache every policy is compared against", Weights.FREE, "O(1)", "n rows per head",
            MechanismConfig.class, MechanismConfig.NONE, config -> new FullCache());

    @Override
    public String id() {
        return "full";
    }

    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        // keeps everything
    }
}
