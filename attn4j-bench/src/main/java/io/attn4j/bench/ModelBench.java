package io.attn4j.bench;

import io.attn4j.bench.peers.OrtEncoder;
import io.attn4j.models.Encoder;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.runtime.Engine;
import io.attn4j.util.Json;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * {@code attn4j bench model}: end-to-end encoder throughput of attn4j against ONNX Runtime on the same model file,
 * the same texts and the same thread count, in one process.
 *
 * <p><b>Texts.</b> Real corpus text cut into texts of exactly {@code tokens} tokens: documents are taken evenly
 * spaced over the corpus (so every genre of Brown appears), and each contributes windows of consecutive passages
 * joined until their encoding fills {@code tokens} tokens, truncated there. So neither side pads, and both run the
 * same token ids.
 *
 * <p><b>Timing.</b> Each side first runs two batches (JIT, ORT's arena). Then {@value #ROUNDS} rounds each run every
 * batch through ORT, then every batch through attn4j (blocks, not interleaved batches, so neither side's idle
 * threads spin while the other works); a side's throughput is its median round's tokens per second. Embeddings of
 * the last round are compared text by text: cosine of attn4j's pooled (and normalised, as the model says)
 * embedding with the same pooling of ORT's last hidden state.
 */
public final class ModelBench {
    /** Timed rounds per side. */
    public static final int ROUNDS = 3;

    private ModelBench() {
    }

    /**
     * @param batch   texts per forward pass
     * @param tokens  tokens per text (special tokens included)
     * @param texts   texts in all (a multiple of {@code batch} is used: the largest not above it, at least one batch)
     * @param threads threads for attn4j and ORT's intra-op pool
     * @param peer    {@code ort} or {@code none}
     */
    public record Config(int batch, int tokens, int texts, int threads, String peer) {
        public Config {
            if (batch < 1) {
                throw new IllegalArgumentException("--batch " + batch + "; allowed: >= 1");
            }
            if (tokens < 3) {
                throw new IllegalArgumentException("--tokens " + tokens + "; allowed: >= 3");
            }
            if (texts < 1) {
                throw new IllegalArgumentException("--texts " + texts + "; allowed: >= 1");
            }
            if (threads < 1) {
                throw new IllegalArgumentException("--threads " + threads + "; allowed: >= 1");
            }
            if (!peer.equals("ort") && !peer.equals("none")) {
                throw new IllegalArgumentException("--peer " + peer + "; allowed: ort, none");
            }
        }
    }

    /** The figures of one run. {@code ort} fields are NaN without a peer. */
    public record Result(String model, Config config, int texts, String attention, double[] attn4jTokensPerS,
                         double[] ortTokensPerS, double cosineMin, double cosineMean) {
        public double attn4j() {
            return median(attn4jTokensPerS);
        }

        public double ort() {
            return ortTokensPerS.length == 0 ? Double.NaN : median(ortTokensPerS);
        }

        /** The JSON of the issue: model, batch, tokens, threads, texts, attn4j, ort, ratio, cosines. */
        public Map<String, Object> toJson() {
            Map<String, Object> json = Json.object();
            json.put("model", model);
            json.put("batch", config.batch());
            json.put("tokens", config.tokens());
            json.put("threads", config.threads());
            json.put("texts", texts);
            json.put("attn4j", Map.of("tokens_per_s", attn4j()));
            boolean peer = ortTokensPerS.length > 0;
            json.put("ort", peer ? Map.of("tokens_per_s", ort()) : null);
            json.put("ratio", peer ? attn4j() / ort() : null);
            json.put("cosine_min", peer ? cosineMin : null);
            json.put("cosine_mean", peer ? cosineMean : null);
            return json;
        }
    }

    /**
     * Runs the benchmark.
     *
     * @param encoder the model (its attention plan is what is measured), on any engine: it is re-based on
     *                {@code config.threads()} threads
     * @param corpus  where the texts come from
     * @param log     progress lines
     */
    public static Result run(Encoder encoder, Corpus corpus, Config config, Consumer<String> log) {
        Encoder model = encoder.withEngine(Engine.defaults().withThreads(config.threads()))
                .withMaxTokens(config.tokens()).withBatchTokens(config.batch() * config.tokens());
        int[][] ids = texts(model, corpus, config);
        int batches = ids.length / config.batch();
        log.accept(String.format(java.util.Locale.ROOT, "%d texts of %d tokens from %s, %d batches of %d",
                ids.length, config.tokens(), corpus.name(), batches, config.batch()));
        int[][][] batch = new int[batches][][];
        for (int i = 0; i < batches; i++) {
            batch[i] = Arrays.copyOfRange(ids, i * config.batch(), (i + 1) * config.batch());
        }
        long tokens = (long) ids.length * config.tokens();
        int hidden = model.model().config().hidden();

        OrtEncoder ort = null;
        if (config.peer().equals("ort")) {
            if (model.source().onnx() == null) {
                throw new IllegalArgumentException("--peer ort needs an ONNX model; " + model.source().name()
                        + " has safetensors weights only");
            }
            ort = new OrtEncoder(model.source().onnx(), config.threads());
        }
        try {
            String output = ort == null ? null : ort.outputNames().get(0);
            for (int w = 0; w < 2; w++) {
                model.model().embed(batch[w % batches], null);
                if (ort != null) {
                    ort.run(batch[w % batches], List.of(output));
                }
            }
            double[] ours = new double[ROUNDS], theirs = new double[ort == null ? 0 : ROUNDS];
            float[][] ourVectors = new float[ids.length][], theirVectors = new float[ids.length][];
            for (int round = 0; round < ROUNDS; round++) {
                if (ort != null) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < batches; i++) {
                        float[][] rows = ort.run(batch[i], List.of(output)).get(output);
                        if (round == ROUNDS - 1) {
                            for (int b = 0; b < rows.length; b++) {
                                theirVectors[i * config.batch() + b] = model.pooling().apply(rows[b],
                                        new int[] {0, config.tokens()}, hidden, model.model().config().normalize())[0];
                            }
                        }
                    }
                    theirs[round] = tokens / ((System.nanoTime() - t0) / 1e9);
                }
                long t0 = System.nanoTime();
                for (int i = 0; i < batches; i++) {
                    float[][] e = model.model().embed(batch[i], null);
                    System.arraycopy(e, 0, ourVectors, i * config.batch(), e.length);
                }
                ours[round] = tokens / ((System.nanoTime() - t0) / 1e9);
                log.accept(String.format(java.util.Locale.ROOT, "round %d: attn4j %.0f tokens/s%s", round + 1,
                        ours[round], ort == null ? "" : String.format(java.util.Locale.ROOT, ", ORT %.0f tokens/s",
                                theirs[round])));
            }
            double min = Double.NaN, sum = 0;
            if (ort != null) {
                min = 1;
                for (int t = 0; t < ids.length; t++) {
                    double c = cosine(ourVectors[t], theirVectors[t]);
                    min = Math.min(min, c);
                    sum += c;
                }
            }
            return new Result(model.source().name(), config, ids.length, model.model().attention().toString(), ours,
                    theirs, min, ort == null ? Double.NaN : sum / ids.length);
        } finally {
            if (ort != null) {
                ort.close();
            }
        }
    }

    /** Texts of exactly {@code tokens} ids, from documents evenly spaced over the corpus. */
    static int[][] texts(Encoder model, Corpus corpus, Config config) {
        int wanted = Math.max(config.batch(), config.texts() / config.batch() * config.batch());
        List<Text> documents = corpus.texts();
        List<int[]> out = new ArrayList<>();
        // visit documents in a stride that is coprime with their count, so the first ones span the corpus
        int n = documents.size(), stride = Math.max(1, n / 7);
        while (gcd(stride, n) != 1) {
            stride++;
        }
        for (int visited = 0, d = 0; visited < n && out.size() < wanted; visited++, d = (d + stride) % n) {
            List<Text> passages = new Corpus(corpus.name(), List.of(documents.get(d))).passages().texts();
            StringBuilder window = new StringBuilder();
            for (Text p : passages) {
                window.append(window.isEmpty() ? "" : " ").append(p.text());
                int[] ids = model.tokenizer().encode(window.toString(), config.tokens()).ids();
                if (ids.length == config.tokens()) {
                    out.add(ids);
                    window.setLength(0);
                    if (out.size() == wanted) {
                        break;
                    }
                }
            }
        }
        if (out.size() < config.batch()) {
            throw new IllegalArgumentException(corpus.name() + " yields " + out.size() + " texts of " + config.tokens()
                    + " tokens; a batch needs " + config.batch() + " (lower --tokens or --batch, or use a larger"
                    + " corpus)");
        }
        int usable = out.size() / config.batch() * config.batch();
        return out.subList(0, usable).toArray(new int[0][]);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** The cosine of two vectors, accumulated in double. */
    public static double cosine(float[] a, float[] b) {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
