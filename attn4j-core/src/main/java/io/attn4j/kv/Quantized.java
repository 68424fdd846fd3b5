package io.attn4j.kv;

import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

/**
 * KV quantisation as a policy: int8 or int4 keys and values with per-group scales ({@link KvFormat}). The policy
 * asks for its {@link #format()}; the session (and whoever builds the cache) gives the cache that format, and the
 * cache quantises every row as it is appended. Compression keeps every row.
 *
 * <p><b>Used alone</b> it quantises the full cache: the budget is ignored and memory falls by the format's bytes
 * per row (int8 with groups of 64 and {@code D = 128}: 144 of 512 bytes per row, 28 %; int4: 80 bytes, 16 %).
 * <b>Composed</b> with an eviction policy through {@link KvPolicy#then} ({@code snapKv.then(quantized)} or
 * {@code quantized.then(snapKv)}), the composition's format is this one, so it quantises what the other keeps.
 * DuoAttention pairs its head split with such a cache (via QServe).
 *
 * <p><b>Scheme.</b> Asymmetric min–max quantisation per group of {@code groupSize} consecutive elements of a row:
 * a minimum and a step per group, codes {@code round((x − min) / step)} — the asymmetric per-group scheme of KIVI
 * (Liu, Yuan, Jin, Zhong, Xu, Braverman, Chen, Hu: "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV
 * Cache", ICML 2024, arXiv:2402.02750). <b>Difference from KIVI:</b> KIVI quantises keys <em>per channel</em>
 * (groups run along the tokens of one channel, because key outliers sit in fixed channels) and values per token,
 * keeping the most recent tokens in full precision until a group of tokens is complete. attn4j quantises both keys
 * and values <em>per token</em> (groups run along a row's channels), because rows are quantised once, at append, so
 * that nothing is re-quantised when the cache grows or a policy drops rows; no full-precision residual is kept.
 * Per-token keys suffer more from channel outliers than KIVI's per-channel keys at 2 bits; at 8 and 4 bits the
 * error stays within {@link KvFormat#maxError} of each group's range.
 *
 * <p><b>Choices.</b> INT8 by default: the conservative precision (a step of range/255, 17 times finer than int4's
 * range/15) — int4 is one setting away. Groups of 64 elements ({@link KvFormat#DEFAULT_GROUP}). FLOAT32 is refused:
 * this policy exists to quantise (use {@code full} for a float32 cache).
 *
 * <p><b>Complexity.</b> Compression O(1) (the work is done at append: O(D) per row); memory
 * {@code n · format.bytesPerRow} per head.
 */
public final class Quantized implements KvPolicy {

    /**
     * @param precision INT8 or INT4
     * @param groupSize elements per scale group (even, 2 to 65536)
     */
    public record Config(KvFormat.Precision precision, int groupSize) implements MechanismConfig {
        public Config {
            if (precision == null || precision == KvFormat.Precision.FLOAT32) {
                throw new IllegalArgumentException("precision = " + precision + "; allowed: INT8, INT4");
            }
            new KvFormat(precision, groupSize); // validates the group size, naming it
        }

        public static Config defaults() {
            return new Config(KvFormat.Precision.INT8, KvFormat.DEFAULT_GROUP);
        }
    }

    public static final KvPolicyDescriptor DESCRIPTOR = new KvPolicyDescriptor("quantized",
            "KV quantisation (int8 / int4, per-group scales; used with DuoAttention)",
            "asymmetric per-group scheme of Liu, Yuan, Jin, Zhong, Xu, Braverman, Chen, Hu: \"KIVI: A Tuning-Free "
                    + "Asymmetric 2bit Quantization for KV Cache\", ICML 2024 (arXiv:2402.02750), per token",
            Weights.FREE, "O(1) per compression (O(D) per row at append)",
            "every row, at format.bytesPerRow (int8: ~28 %, int4: ~16 % of float32 at D = 128)",
            Config.class, Config.defaults(), config -> new Quantized((Config) config));

    private final Config config;
    private final KvFormat format;

    public Quantized(Config config) {
        if (config == null) {
            throw new IllegalArgumentException("config = null; allowed: a Quantized.Config");
        }
        this.config = config;
        this.format = new KvFormat(config.precision(), config.groupSize());
    }

    public Config config() {
        return config;
    }

    @Override
    public String id() {
        return "quantized";
    }

    /** Keeps every row: the saving is the format's. */
    @Override
    public void compress(KvCache cache, int seq, Budget budget, Observation observation) {
        // keeps everything; the cache quantised the rows at append
    }

    @Override
    public KvFormat format() {
        return format;
    }

    @Override
    public String toString() {
        return "quantized(" + format + ")";
    }
}
