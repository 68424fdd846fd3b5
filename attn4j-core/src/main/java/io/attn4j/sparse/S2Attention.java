package io.attn4j.sparse;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionProblem.HeadView;
import io.attn4j.attention.AttentionResult;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.BlockMask;
import io.attn4j.attention.IntervalMask;
import io.attn4j.attention.MaskMod;
import io.attn4j.attention.Masks;
import io.attn4j.attention.PartialState;
import io.attn4j.attention.Pattern;
import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.catalog.Family;
import io.attn4j.catalog.Guarantee;
import io.attn4j.catalog.Mechanism;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.util.Arrays;
import java.util.EnumSet;

/**
 * Heterogeneous context sharding among heads: S2-Attention (Lin, Zhang, Ge, Ren, Patra, Chaudhary, Peng, Song,
 * "S2-Attention: Hardware-Aware Context Sharding Among Attention Heads", 2024, arXiv:2407.17678), the sparse layer
 * of its Head-Heterogeneous Strided Transformer.
 *
 * <p><b>Algorithm.</b> Query head {@code h} has a shard {@code (stride_h, offset_h)}: the keys whose position
 * {@code p} has {@code ⌊p / u⌋ ≡ offset_h (mod stride_h)} ({@code u} the shard unit, one token by default). It
 * attends to its shard plus a dense local window of {@code w} keys (causal: {@code p − w < k <= p}; noncausal:
 * {@code |p − k| < w}), in one softmax. Heads with different offsets see different shards, so with the default
 * rule ({@code offset_h = h mod stride}) every {@code stride} consecutive heads together cover the whole context.
 * Computed in two exact parts, each by {@code flash}, merged by their log-sum-exps
 * ({@link PartialState#mergeRow}), so no key is counted twice:
 * <ol>
 *   <li>the window: {@code flash} over the call's K and V with the window's interval {@link BlockMask};</li>
 *   <li>the shard keys outside the window: each query head's shard is gathered into a contiguous sequence (from
 *       its KV head under GQA, so shards are per query head); shard keys are sorted by position, so a causal
 *       query's shard keys before its window are a prefix {@code [0, c(p − w + 1))} of the shard, with
 *       {@code c(x)} the number of shard keys at positions below {@code x}; a noncausal query's are that
 *       prefix and the suffix {@code [c(p + w), S_h)}, which become one interval {@code [c(p + w), S_h +
 *       c(p − w + 1))} when the shard is gathered twice in a row. Intervals, so the shard part's block mask costs
 *       O(query blocks) per head and partial tiles are masked a column at a time, never element by element.</li>
 * </ol>
 *
 * <p><b>Choices.</b> The shard unit is one token by default (each head sees every stride-th key); the paper's
 * DKernel shards 64-token blocks ({@code shardUnit = 64}, which this class also takes). The window is in tokens,
 * not DKernel's local blocks. The shard keys inside the window are computed by the window part (so the split is
 * by position, and both parts are interval masks) rather than the window masking out shard keys. Defaults: stride
 * 8 with offsets {@code h mod 8} (the shards of every group of 8 heads cover the context; a call with fewer than
 * 8 heads covers only its heads' shards) and a 1024-key window, after DKernel's examples (vertical stride 8, 16
 * local blocks of 64). Per-head (stride, offset) arrays must have one entry per query head of the call; a call
 * with another head count is refused. No masks or score mods: a score mod would see shard indices, not positions.
 * No log-sum-exp: splitting the keys would move the window and the shards. The catalog marks S2 as trained (a
 * model must be trained with its sparsity), but it runs on any Q, K, V.
 *
 * <p><b>Fidelity.</b> S2 needs a model trained with its sparsity; on other attention it keeps the window and a
 * stride-th of the rest. On the standard structured inputs at n = 2048 the default keeps at least 85 % of the
 * attention mass noncausal and 83 % causal per head, with an output relative error of at most 0.60 and 0.62.
 *
 * <p><b>Complexity.</b> Time O(n·(w + n/stride + 2·blockK)·d) per head; extra memory O((n/stride)·d) per query
 * head for the gathered shard (twice that noncausal), the shard part's output (O(n·Dv) per head) and flash's
 * scratch.
 */
public final class S2Attention implements SparseAttention {

    /**
     * Either per-head shards ({@code strides} and {@code offsets}, one entry per query head) or a rule
     * ({@code strides == offsets == null}: every head has stride {@code stride} and offset {@code h mod stride}).
     *
     * @param strides   per query head, {@code >= 1}; or {@code null} for the rule
     * @param offsets   per query head, {@code 0 <= offset < stride}; or {@code null} for the rule
     * @param stride    the rule's stride ({@code >= 1}); ignored (0) with per-head arrays
     * @param window    the dense local window in keys ({@code >= 1}; a causal query's includes itself)
     * @param shardUnit tokens per shard unit ({@code >= 1}): 1 shards tokens, 64 shards 64-token blocks
     * @param blockQ    queries per tile
     * @param blockK    keys per tile
     */
    public record Config(int[] strides, int[] offsets, int stride, int window, int shardUnit, int blockQ, int blockK)
            implements MechanismConfig {
        public Config {
            if ((strides == null) != (offsets == null)) {
                throw new IllegalArgumentException("strides " + (strides == null ? "null" : "given") + " and offsets "
                        + (offsets == null ? "null" : "given") + "; allowed: both per-head arrays or both null (rule)");
            }
            if (strides != null) {
                strides = strides.clone();
                offsets = offsets.clone();
                if (strides.length == 0 || strides.length != offsets.length) {
                    throw new IllegalArgumentException("per-head shards with " + strides.length + " strides and "
                            + offsets.length + " offsets; allowed: one (stride, offset) per query head, at least one");
                }
                for (int h = 0; h < strides.length; h++) {
                    checkShard(h, strides[h], offsets[h]);
                }
            } else if (stride < 1) {
                throw new IllegalArgumentException("stride = " + stride + "; allowed: >= 1");
            }
            if (window < 1) {
                throw new IllegalArgumentException("window = " + window + "; allowed: >= 1 keys");
            }
            if (shardUnit < 1) {
                throw new IllegalArgumentException("shardUnit = " + shardUnit + "; allowed: >= 1 tokens");
            }
            SlidingWindow.checkBlocks(blockQ, blockK);
        }

        /** Every head with stride {@code stride} and offset {@code h mod stride}, and a window of {@code window}. */
        public static Config rule(int stride, int window) {
            return new Config(null, null, stride, window, 1, 128, 64);
        }

        /** Head {@code h} with {@code (strides[h], offsets[h])}, and a window of {@code window}. */
        public static Config perHead(int[] strides, int[] offsets, int window) {
            return new Config(strides, offsets, 0, window, 1, 128, 64);
        }

        /** Stride 8 with offsets {@code h mod 8}, a 1024-key window, token shards. */
        public static Config defaults() {
            return rule(8, 1024);
        }

        /** This configuration sharding units of {@code shardUnit} tokens. */
        public Config withShardUnit(int shardUnit) {
            return new Config(strides, offsets, stride, window, shardUnit, blockQ, blockK);
        }

        @Override
        public int[] strides() {
            return strides == null ? null : strides.clone();
        }

        @Override
        public int[] offsets() {
            return offsets == null ? null : offsets.clone();
        }

        /** The stride of query head {@code h}. */
        public int strideOf(int h) {
            return strides == null ? stride : strides[h];
        }

        /** The offset of query head {@code h}. */
        public int offsetOf(int h) {
            return strides == null ? h % stride : offsets[h];
        }

        /** Refuses a call whose query head count does not match the per-head arrays. */
        void checkHeads(int heads) {
            if (strides != null && strides.length != heads) {
                throw new IllegalArgumentException("s2 has per-head shards for " + strides.length
                        + " query heads but the call has " + heads + "; allowed: one (stride, offset) per query head");
            }
        }

        private static void checkShard(int h, int stride, int offset) {
            if (stride < 1) {
                throw new IllegalArgumentException("stride of head " + h + " = " + stride + "; allowed: >= 1");
            }
            if (offset < 0 || offset >= stride) {
                throw new IllegalArgumentException("offset of head " + h + " = " + offset + "; allowed: 0 to stride - 1 = "
                        + (stride - 1));
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config c && Arrays.equals(strides, c.strides) && Arrays.equals(offsets, c.offsets)
                    && stride == c.stride && window == c.window && shardUnit == c.shardUnit && blockQ == c.blockQ
                    && blockK == c.blockK;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(new int[] {Arrays.hashCode(strides), Arrays.hashCode(offsets), stride, window,
                    shardUnit, blockQ, blockK});
        }

        @Override
        public String toString() {
            String shards = strides == null ? "stride=" + stride + ", offsets=h mod " + stride
                    : "strides=" + Arrays.toString(strides) + ", offsets=" + Arrays.toString(offsets);
            return "S2Attention.Config[" + shards + ", window=" + window + ", shardUnit=" + shardUnit + ", blocks="
                    + blockQ + "x" + blockK + "]";
        }
    }

    public static final Mechanism DESCRIPTOR = new Mechanism("s2", Family.SPARSE,
            "S2-Attention (heterogeneous context sharding among heads)",
            "Lin, Zhang, Ge, Ren, Patra, Chaudhary, Peng, Song: \"S2-Attention: Hardware-Aware Context Sharding Among "
                    + "Attention Heads\", 2024 (arXiv:2407.17678)",
            EnumSet.of(Pattern.NS, Pattern.CS), Weights.TRAINED, false, false, false,
            "O(n (w + n / stride) d)", "O(n d) per query head for the gathered shard + flash's", Config.class,
            Config.defaults(), (config, engine) -> new S2Attention((Config) config, engine),
            EnumSet.of(Guarantee.PREFIX_INVARIANT));

    private final Config config;
    private final Engine engine;
    private final FlashAttention flash;

    public S2Attention(Config config, Engine engine) {
        this.config = config;
        this.engine = engine;
        this.flash = new FlashAttention(new FlashAttention.Config(config.blockQ(), config.blockK()), engine);
    }

    @Override
    public Mechanism descriptor() {
        return DESCRIPTOR;
    }

    public Config config() {
        return config;
    }

    @Override
    public AttentionResult forward(Tensor q, Tensor k, Tensor v, AttentionSpec spec, Tensor out) {
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, out);
        config.checkHeads(p.heads());
        boolean causal = p.pattern() == Pattern.CS;
        int batch = p.batch(), heads = p.heads(), n = p.queryLength(), d = p.headDim(), dv = p.valueDim();
        int w = config.window();
        Shard[] shards = new Shard[heads];
        int longest = 0;
        boolean anyShardKey = false;
        for (int h = 0; h < heads; h++) {
            shards[h] = new Shard(config.strideOf(h), config.offsetOf(h), config.shardUnit());
            int size = shards[h].count(n);
            longest = Math.max(longest, size);
            // the last query has the most shard keys before its window, the first the most after it
            anyShardKey |= shards[h].count(n - w) > 0 || (!causal && shards[h].count(Math.min(n, w)) < size);
        }

        // 1. the window, straight into the output
        MaskMod window = causal ? Masks.causal().and(Masks.slidingWindow(w)).bind(n, n)
                : Masks.slidingWindow(w).bind(n, n);
        AttentionProblem local = Gathered.problem(p, n, n, p.kvHeads(), p.q(), p.k(), p.v(), p.out(), p.output(),
                true);
        AttentionResult windowPart = flash.run(local, BlockMask.of(window, 1, 1, n, n, config.blockQ(),
                config.blockK()));
        if (!anyShardKey) {
            return p.result(null, null, null, null);
        }

        // 2. each query head's shard keys outside the window, gathered: slot t of head h holds shard key t mod S_h
        // (noncausal calls gather the shard twice, so the keys after the window and then those before it are
        // one interval of slots)
        int copies = causal ? 1 : 2;
        int length = Math.max(1, copies * longest);
        float[] ks = Gathered.headMajorArray(batch, heads, length, d);
        float[] vs = Gathered.headMajorArray(batch, heads, length, dv);
        float[] os = Gathered.headMajorArray(batch, heads, n, dv);
        HeadView kView = Gathered.headMajor(ks, heads, length, d), vView = Gathered.headMajor(vs, heads, length, dv);
        HeadView oView = Gathered.headMajor(os, heads, n, dv);
        int group = p.group();
        engine.parallelFor(batch * heads, task -> {
            int b = task / heads, h = task % heads, kvh = h / group;
            Shard shard = shards[h];
            int size = shard.count(n);
            for (int t = 0; t < size; t++) {
                int position = shard.at(t);
                for (int copy = 0; copy < copies; copy++) {
                    Gathered.copyRow(p.k(), b, position, kvh, ks, kView.at(b, copy * size + t, h), d);
                    Gathered.copyRow(p.v(), b, position, kvh, vs, vView.at(b, copy * size + t, h), dv);
                }
            }
        });
        BlockMask blocks = BlockMask.of(new ShardPart(shards, n, w, causal), batch, heads, n, length,
                config.blockQ(), config.blockK());
        AttentionProblem sharded = Gathered.problem(p, n, length, heads, p.q(), kView, vView, oView,
                Tensor.of(os, batch, heads, n, dv), true);
        AttentionResult shardPart = flash.run(sharded, blocks);

        // 3. merge the two exact parts row by row: o = e^(lse_w − lse)·o_w + e^(lse_s − lse)·o_s
        float[] lseWindow = windowPart.lse().array(), lseShard = shardPart.lse().array();
        HeadView o = p.out();
        engine.parallelFor(batch * heads, task -> {
            int b = task / heads, h = task % heads;
            for (int i = 0, stat = task * n; i < n; i++, stat++) {
                int row = o.at(b, i, h);
                PartialState.mergeRow(o.data(), row, lseWindow[stat], os, oView.at(b, i, h), lseShard[stat],
                        o.data(), row, dv);
            }
        });
        return p.result(null, null, null, null);
    }

    @Override
    public KeptKeys keptKeys(Tensor q, Tensor k, Tensor v, AttentionSpec spec) {
        AttentionProblem p = BlockSparseAttention.validated(DESCRIPTOR, q, k, v, spec, null);
        config.checkHeads(p.heads());
        boolean causal = p.pattern() == Pattern.CS;
        int w = config.window(), unit = config.shardUnit();
        return (b, h, query, key) -> {
            if (causal && key > query) {
                return false;
            }
            if (Math.abs(query - key) < w) {
                return true;
            }
            return (key / unit) % config.strideOf(h) == config.offsetOf(h);
        };
    }

    /** The keys of one shard: positions p with ⌊p / unit⌋ ≡ offset (mod stride), in order. */
    private record Shard(int stride, int offset, int unit) {
        /** The number of shard keys at positions below {@code x} (0 for x <= 0). */
        int count(int x) {
            if (x <= 0) {
                return 0;
            }
            long period = (long) stride * unit;
            long cycles = x / period;
            long rest = x - cycles * period - (long) offset * unit; // positions of the current cycle's shard unit
            return (int) (cycles * unit + Math.max(0, Math.min(unit, rest)));
        }

        /** The position of shard key {@code t}. */
        int at(int t) {
            return ((t / unit) * stride + offset) * unit + t % unit;
        }
    }

    /**
     * The shard keys of query head h outside the query's window, as one interval of slots: causal, those before it,
     * {@code [0, c(p − w + 1))}; noncausal, over the shard gathered twice, those after it and then those before it,
     * {@code [c(p + w), S_h + c(p − w + 1))}, with c clipped to {@code S_h}.
     */
    private record ShardPart(Shard[] shards, int n, int window, boolean causal) implements IntervalMask {
        @Override
        public int keyFrom(int batch, int head, int query) {
            Shard shard = shards[head];
            return causal ? 0 : Math.min(shard.count(n), shard.count(query + window));
        }

        @Override
        public int keyTo(int batch, int head, int query) {
            Shard shard = shards[head];
            return (causal ? 0 : shard.count(n)) + shard.count(query - window + 1);
        }
    }
}
