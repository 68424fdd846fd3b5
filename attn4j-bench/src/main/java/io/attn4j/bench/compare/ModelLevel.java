package io.attn4j.bench.compare;

import io.attn4j.bench.ModelBench;
import io.attn4j.bench.peers.OrtEncoder;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.sparse.BudgetedConfig;
import io.attn4j.attention.Pattern;
import io.attn4j.models.Encoder;
import io.attn4j.models.bert.AttentionPlan;
import io.attn4j.models.corpus.Corpus;
import io.attn4j.models.corpus.Text;
import io.attn4j.runtime.Engine;
import io.attn4j.util.Json;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The model section of {@code compare}: the default encoder with each noncausal-capable mechanism in every layer,
 * over texts of the corpus spread evenly over its genres, against the exact embeddings ({@code flash} in every
 * layer: exact attention in float32) — and ONNX Runtime end to end on the same model file and texts.
 *
 * <p>Per mechanism: throughput (real tokens per second over one pass of all texts, after a warm-up pass over the
 * first 32); the cosine of each text's embedding with the exact one (min and mean); genre accuracy of k-nearest
 * neighbours (leave-one-out, k = 5, cosine similarity, majority vote, ties to the genre of the nearer neighbour);
 * and the mean overlap of each text's 10 nearest neighbours with those of the exact embeddings. {@code reference}
 * (the float64 oracle) is not run here: at model scale it takes minutes, and {@code flash} is exact.
 */
final class ModelLevel {
    static final int K = 5;
    static final int TOP = 10;
    static final String EXACT = "flash";
    /** The key budget of budgeted mechanisms in every layer (the issue's 25 %). */
    static final String BUDGET = "25%";

    private final CompareConfig config;

    ModelLevel(CompareConfig config) {
        this.config = config;
    }

    List<String> mechanisms() {
        List<String> ids = new ArrayList<>(List.of(EXACT));
        for (String id : config.mechanismIds()) {
            Mechanism m = Catalog.get(id);
            if (!id.equals("reference") && !id.equals(EXACT) && m.patterns().contains(Pattern.NS)) {
                ids.add(m.defaults() instanceof BudgetedConfig ? id + "@" + BUDGET : id);
            }
        }
        return ids;
    }

    /** {@code count} documents taken round-robin over the genres (in order of first appearance), first passages. */
    static List<Text> texts(Corpus corpus, int count) {
        Map<String, List<Text>> byGenre = new LinkedHashMap<>();
        for (Text t : corpus.texts()) {
            byGenre.computeIfAbsent(t.genre(), g -> new ArrayList<>()).add(t);
        }
        List<Text> picked = new ArrayList<>();
        for (int round = 0; picked.size() < count; round++) {
            boolean any = false;
            for (List<Text> docs : byGenre.values()) {
                if (round < docs.size() && picked.size() < count) {
                    Text doc = docs.get(round);
                    List<Text> passages = new Corpus(corpus.name(), List.of(doc)).passages().texts();
                    picked.add(passages.isEmpty() ? doc : passages.getFirst());
                    any = true;
                }
            }
            if (!any) {
                break;
            }
        }
        return picked;
    }

    /** Runs the section; {@code step} after each mechanism and after ORT. */
    Map<String, Object> run(Encoder base, Corpus corpus, Consumer<String> step) {
        Encoder encoder = base.withEngine(Engine.defaults().withThreads(config.threads()));
        List<Text> texts = texts(corpus, config.texts());
        List<String> strings = texts.stream().map(Text::text).toList();
        String[] genres = texts.stream().map(Text::genre).toArray(String[]::new);
        int[][] ids = encoder.tokenize(strings);
        long tokens = Arrays.stream(ids).mapToLong(a -> a.length).sum();
        Map<String, Object> section = Json.object();
        section.put("model", encoder.source().name());
        section.put("corpus", corpus.name());
        section.put("texts", texts.size());
        section.put("genres", Arrays.stream(genres).distinct().count());
        section.put("tokens", tokens);
        section.put("k", K);
        section.put("top", TOP);
        section.put("exact", EXACT);
        List<Object> rows = new ArrayList<>();
        float[][] exact = null;
        int[][] exactTop = null;
        for (String id : mechanisms()) {
            Map<String, Object> row = Json.object();
            row.put("mechanism", id);
            try {
                Encoder e = encoder.withAttention(AttentionPlan.uniform(id));
                e.embedIds(Arrays.copyOf(ids, Math.min(32, ids.length)), done -> { });
                long t0 = System.nanoTime();
                float[][] vectors = e.embedIds(ids, done -> { });
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (exact == null) {
                    exact = vectors;
                    exactTop = neighbours(exact, TOP);
                }
                putQuality(row, vectors, exact, exactTop, genres);
                row.put("tokens_per_s", tokens / seconds);
                row.put("status", "ok");
            } catch (RuntimeException | OutOfMemoryError ex) {
                row.put("status", "failed");
                row.put("reason", ex.getClass().getSimpleName() + ": " + ex.getMessage());
            }
            rows.add(row);
            step.accept("model " + id);
        }
        section.put("rows", rows);
        section.put("ort", ort(encoder, ids, tokens, exact, exactTop, genres));
        step.accept("model ort");
        return section;
    }

    private Map<String, Object> ort(Encoder encoder, int[][] ids, long tokens, float[][] exact, int[][] exactTop,
                                    String[] genres) {
        Map<String, Object> row = Json.object();
        row.put("mechanism", "ort");
        if (encoder.source().onnx() == null) {
            row.put("status", "skipped");
            row.put("reason", encoder.source().name() + " has no ONNX file");
            return row;
        }
        try (OrtEncoder ort = new OrtEncoder(encoder.source().onnx(), config.threads())) {
            String output = ort.outputNames().getFirst();
            int hidden = encoder.model().config().hidden();
            int batch = 32;
            runOrt(ort, Arrays.copyOf(ids, Math.min(batch, ids.length)), output, encoder, hidden);
            long t0 = System.nanoTime();
            float[][] vectors = runOrt(ort, ids, output, encoder, hidden);
            double seconds = (System.nanoTime() - t0) / 1e9;
            row.put("tokens_per_s", tokens / seconds);
            if (exact != null) {
                putQuality(row, vectors, exact, exactTop, genres);
            }
            row.put("status", "ok");
            row.put("threads", config.threads());
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            row.put("status", "failed");
            row.put("reason", e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        return row;
    }

    /** ORT in batches of 32 texts (padded to the longest, masked), pooled as the model pools. */
    private static float[][] runOrt(OrtEncoder ort, int[][] ids, String output, Encoder encoder, int hidden) {
        float[][] out = new float[ids.length][];
        for (int b0 = 0; b0 < ids.length; b0 += 32) {
            int[][] batch = Arrays.copyOfRange(ids, b0, Math.min(ids.length, b0 + 32));
            float[][] rows = ort.run(batch, List.of(output)).get(output);
            for (int b = 0; b < batch.length; b++) {
                out[b0 + b] = encoder.pooling().apply(rows[b], new int[] {0, batch[b].length}, hidden,
                        encoder.model().config().normalize())[0];
            }
        }
        return out;
    }

    private static void putQuality(Map<String, Object> row, float[][] vectors, float[][] exact, int[][] exactTop,
                                   String[] genres) {
        double min = 1, sum = 0;
        for (int i = 0; i < vectors.length; i++) {
            double c = ModelBench.cosine(vectors[i], exact[i]);
            min = Math.min(min, c);
            sum += c;
        }
        row.put("cosine_min", min);
        row.put("cosine_mean", sum / vectors.length);
        int[][] top = neighbours(vectors, Math.max(K, TOP));
        row.put("knn_accuracy", knnAccuracy(top, genres, K));
        row.put("top10_overlap", overlap(top, exactTop, TOP));
    }


    /** Each text's {@code count} nearest other texts by cosine, nearest first (ties by index). */
    static int[][] neighbours(float[][] v, int count) {
        int n = v.length, k = Math.min(count, n - 1);
        double[][] sim = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                sim[i][j] = sim[j][i] = ModelBench.cosine(v[i], v[j]);
            }
        }
        int[][] top = new int[n][];
        for (int i = 0; i < n; i++) {
            int self = i;
            double[] s = sim[i];
            top[i] = java.util.stream.IntStream.range(0, n).filter(j -> j != self).boxed()
                    .sorted((a, b) -> s[a] != s[b] ? Double.compare(s[b], s[a]) : Integer.compare(a, b))
                    .limit(k).mapToInt(Integer::intValue).toArray();
        }
        return top;
    }

    /** Leave-one-out k-NN genre accuracy: majority of the k nearest, ties to the genre of the nearest among them. */
    static double knnAccuracy(int[][] top, String[] genres, int k) {
        int correct = 0;
        for (int i = 0; i < top.length; i++) {
            Map<String, Integer> votes = new HashMap<>();
            int kk = Math.min(k, top[i].length);
            for (int r = 0; r < kk; r++) {
                votes.merge(genres[top[i][r]], 1, Integer::sum);
            }
            int best = votes.values().stream().mapToInt(Integer::intValue).max().orElse(0);
            String predicted = null;
            for (int r = 0; r < kk && predicted == null; r++) { // the nearest neighbour of a tied genre wins
                if (votes.get(genres[top[i][r]]) == best) {
                    predicted = genres[top[i][r]];
                }
            }
            if (genres[i].equals(predicted)) {
                correct++;
            }
        }
        return (double) correct / top.length;
    }

    /** Mean share of each text's {@code count} nearest neighbours that are also its exact nearest. */
    static double overlap(int[][] top, int[][] exactTop, int count) {
        double sum = 0;
        for (int i = 0; i < top.length; i++) {
            int c = Math.min(count, Math.min(top[i].length, exactTop[i].length));
            java.util.Set<Integer> exact = new java.util.HashSet<>();
            for (int r = 0; r < c; r++) {
                exact.add(exactTop[i][r]);
            }
            int shared = 0;
            for (int r = 0; r < c; r++) {
                if (exact.contains(top[i][r])) {
                    shared++;
                }
            }
            sum += c == 0 ? 1 : (double) shared / c;
        }
        return sum / top.length;
    }
}
