package io.attn4j.models;

import io.attn4j.models.bert.AttentionPlan;
import io.attn4j.models.bert.BertConfig;
import io.attn4j.models.bert.BertModel;
import io.attn4j.models.bert.BertWeights;
import io.attn4j.models.bert.Pooling;
import io.attn4j.models.format.HfConfig;
import io.attn4j.models.format.OnnxEncoderGraph;
import io.attn4j.models.format.OnnxModel;
import io.attn4j.models.format.OnnxTensor;
import io.attn4j.models.format.SafeTensors;
import io.attn4j.models.tokenizer.BertTokenizer;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A BERT-family embedding model ready to use: its tokenizer and its {@link BertModel}, loaded from a
 * {@link ModelSource}. Texts in, one vector per text out.
 *
 * <pre>{@code
 * Encoder minilm = Encoder.load("minilm");
 * float[][] vectors = minilm.embed(List.of("first text", "second text"));
 * Encoder sparse = minilm.withAttention(AttentionPlan.parse("0-2:flash,3-5:sliding-window"));
 * }</pre>
 *
 * <p><b>Loading.</b> An ONNX model is mapped; its graph gives what the file has no config for (heads, layer-norm
 * epsilon, which initializer is which linear layer, {@link OnnxEncoderGraph}), the weight shapes give the sizes,
 * and the weights are checked and packed once ({@link BertWeights}). Safetensors weights are mapped likewise and
 * read with their {@code config.json}. Only the packed copy stays on the heap.
 *
 * <p><b>Texts.</b> Each text is tokenized and truncated to {@link #maxTokens()} — the tokenizer file's truncation
 * length if it has one (the length the model was trained with: 128 for all-MiniLM-L6-v2), else the model's
 * position limit — and texts are encoded in batches of at most {@link #batchTokens()} tokens, packed without
 * padding. Instances are immutable and safe to share between threads.
 */
public final class Encoder {
    /** Tokens per forward pass when embedding many texts: activations of about 60 MB for a 384-wide model. */
    public static final int DEFAULT_BATCH_TOKENS = 4096;

    private static final Pattern LAYER = Pattern.compile("(?:bert\\.)?encoder\\.layer\\.(\\d+)\\..*");

    private final ModelSource source;
    private final BertTokenizer tokenizer;
    private final BertModel model;
    private final int maxTokens;
    private final int batchTokens;

    private Encoder(ModelSource source, BertTokenizer tokenizer, BertModel model, int maxTokens, int batchTokens) {
        this.source = source;
        this.tokenizer = tokenizer;
        this.model = model;
        this.maxTokens = maxTokens;
        this.batchTokens = batchTokens;
    }

    /** {@link #load(ModelSource, Engine)} of {@link ModelSource#resolve}{@code (model)} on the default engine. */
    public static Encoder load(String model) throws IOException {
        return load(ModelSource.resolve(model), Engine.defaults());
    }

    /**
     * Loads the model with exact attention ({@code flash}) in every layer.
     *
     * @throws IllegalArgumentException if the files are not a BERT-family encoder this runtime can run (the message
     *                                  names the tensor, node or key at fault)
     */
    public static Encoder load(ModelSource source, Engine engine) throws IOException {
        BertTokenizer tokenizer = BertTokenizer.load(source.tokenizer());
        BertModel model = source.weights() != null ? fromSafetensors(source, engine) : fromOnnx(source, engine);
        if (tokenizer.vocabSize() > model.config().vocabSize()) {
            throw new IllegalArgumentException(source.name() + ": the tokenizer has " + tokenizer.vocabSize()
                    + " tokens but the model's word embeddings only " + model.config().vocabSize());
        }
        int maxTokens = Math.min(model.config().maxPositions(),
                tokenizer.configuredMaxLength().orElse(model.config().maxPositions()));
        return new Encoder(source, tokenizer, model, maxTokens, DEFAULT_BATCH_TOKENS);
    }

    private static BertModel fromOnnx(ModelSource source, Engine engine) throws IOException {
        try (OnnxModel onnx = OnnxModel.open(source.onnx())) {
            refuseQuantized(onnx, source);
            OnnxEncoderGraph graph = OnnxEncoderGraph.infer(onnx);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            Set<String> linear = new java.util.HashSet<>();
            for (Map.Entry<String, OnnxEncoderGraph.LinearWeight> e : graph.linearWeights().entrySet()) {
                OnnxTensor w = onnx.initializer(e.getValue().initializer());
                Tensor t = w.toFloat();
                tensors.put(e.getKey() + ".weight", e.getValue().inputMajor() ? t.permute(1, 0) : t);
                linear.add(e.getValue().initializer());
            }
            for (OnnxTensor t : onnx.initializers().values()) {
                // weights keep their module names; the exporter's other initializers are graph constants
                if (!linear.contains(t.name()) && t.dataType().isFloat() && isModuleName(t.name())) {
                    tensors.put(t.name(), t.toFloat());
                }
            }
            Tensor word = required(tensors, "embeddings.word_embeddings.weight", source);
            Tensor positions = required(tensors, "embeddings.position_embeddings.weight", source);
            Tensor types = required(tensors, "embeddings.token_type_embeddings.weight", source);
            Tensor ffn = required(tensors, "encoder.layer.0.intermediate.dense.weight", source);
            int hidden = word.size(1);
            if (graph.headSize() != 0 && graph.numHeads() * graph.headSize() != hidden) {
                throw new IllegalArgumentException(source.onnx() + ": the graph splits " + graph.numHeads() + " heads of "
                        + graph.headSize() + " but the hidden size is " + hidden);
            }
            BertConfig config = new BertConfig(word.size(0), hidden, graph.numHeads(), layers(tensors.keySet(), source),
                    ffn.size(0), (float) graph.layerNormEps(), positions.size(0), types.size(0), source.pooling(),
                    source.normalize());
            return new BertModel(config, BertWeights.fromHuggingFace(tensors, config), AttentionPlan.uniform(
                    AttentionPlan.DEFAULT), engine);
        }
    }

    private static final Set<String> QUANTIZED_OPS = Set.of("DynamicQuantizeLinear", "QuantizeLinear",
            "DequantizeLinear", "MatMulInteger", "QLinearMatMul", "ConvInteger", "QAttention", "DynamicQuantizeMatMul",
            "MatMulIntegerToFloat", "MatMulNBits");

    /** A quantized export (int8 weights) is not this float runtime's model: say so instead of missing tensors. */
    private static void refuseQuantized(OnnxModel onnx, ModelSource source) {
        TreeSet<String> ops = new TreeSet<>();
        onnx.nodes().forEach(n -> {
            if (QUANTIZED_OPS.contains(n.opType())) {
                ops.add(n.opType());
            }
        });
        if (!ops.isEmpty()) {
            throw new IllegalArgumentException(source.onnx() + " is a quantized model (its graph has " + ops
                    + " nodes); attn4j runs float32, float16 and bfloat16 weights: use the model's unquantized artifact");
        }
    }

    private static BertModel fromSafetensors(ModelSource source, Engine engine) throws IOException {
        HfConfig hf = HfConfig.read(source.config());
        if (!(hf.modelType().isEmpty() || hf.modelType().equals("bert"))) {
            throw new IllegalArgumentException(source.config() + ": model_type '" + hf.modelType()
                    + "'; this runtime runs BERT encoders (model_type bert)");
        }
        if (!hf.hiddenAct().equals("gelu")) {
            throw new IllegalArgumentException(source.config() + ": hidden_act '" + hf.hiddenAct()
                    + "'; this runtime implements gelu (the exact, erf form)");
        }
        BertConfig config = new BertConfig(hf.vocabSize(), hf.hiddenSize(), hf.numAttentionHeads(), hf.numHiddenLayers(),
                hf.intermediateSize(), (float) hf.layerNormEps(), hf.maxPositionEmbeddings(), hf.typeVocabSize(),
                source.pooling(), source.normalize());
        try (SafeTensors st = SafeTensors.open(source.weights())) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : st.tensors().keySet()) {
                tensors.put(name, st.tensor(name));
            }
            return new BertModel(config, BertWeights.fromHuggingFace(tensors, config),
                    AttentionPlan.uniform(AttentionPlan.DEFAULT), engine);
        }
    }

    private static boolean isModuleName(String name) {
        return name.startsWith("embeddings.") || name.startsWith("encoder.") || name.startsWith("pooler.")
                || name.startsWith("bert.");
    }

    private static Tensor required(Map<String, Tensor> tensors, String name, ModelSource source) {
        Tensor t = tensors.get(name);
        if (t == null) {
            t = tensors.get("bert." + name);
        }
        if (t == null || t.rank() != 2) {
            throw new IllegalArgumentException(source.onnx() + " has no " + (t == null ? "" : "rank-2 ") + "tensor '"
                    + name + "'; its weights: " + new TreeSet<>(tensors.keySet()));
        }
        return t;
    }

    private static int layers(Set<String> names, ModelSource source) {
        TreeSet<Integer> layers = new TreeSet<>();
        for (String n : names) {
            Matcher m = LAYER.matcher(n);
            if (m.matches()) {
                layers.add(Integer.parseInt(m.group(1)));
            }
        }
        if (layers.isEmpty() || layers.first() != 0 || layers.last() != layers.size() - 1) {
            throw new IllegalArgumentException(source.onnx() + ": encoder layers " + layers
                    + "; expected 0 to n - 1 without gaps");
        }
        return layers.size();
    }

    public ModelSource source() {
        return source;
    }

    public BertTokenizer tokenizer() {
        return tokenizer;
    }

    public BertModel model() {
        return model;
    }

    /** Tokens per text, special tokens included; longer texts are truncated. */
    public int maxTokens() {
        return maxTokens;
    }

    /** Tokens per forward pass in {@link #embed}. */
    public int batchTokens() {
        return batchTokens;
    }

    /** The same encoder with another attention plan (weights shared). */
    public Encoder withAttention(AttentionPlan plan) {
        return new Encoder(source, tokenizer, model.withAttention(plan), maxTokens, batchTokens);
    }

    /** The same encoder on another engine (threads, SIMD). */
    public Encoder withEngine(Engine engine) {
        return new Encoder(source, tokenizer, model.withEngine(engine), maxTokens, batchTokens);
    }

    /**
     * The same encoder truncating at {@code tokens}.
     *
     * @throws IllegalArgumentException unless {@code tokenizer special tokens < tokens <= max positions}
     */
    public Encoder withMaxTokens(int tokens) {
        if (tokens <= tokenizer.specialTokenCount() || tokens > model.config().maxPositions()) {
            throw new IllegalArgumentException("max tokens = " + tokens + "; allowed: " + (tokenizer.specialTokenCount() + 1)
                    + " to " + model.config().maxPositions() + " (the model's positions)");
        }
        return new Encoder(source, tokenizer, model, tokens, batchTokens);
    }

    /**
     * The same encoder with {@code tokens} per forward pass.
     *
     * @throws IllegalArgumentException unless {@code tokens >= 1}
     */
    public Encoder withBatchTokens(int tokens) {
        if (tokens < 1) {
            throw new IllegalArgumentException("batch tokens = " + tokens + "; allowed: >= 1");
        }
        return new Encoder(source, tokenizer, model, maxTokens, tokens);
    }

    /** The token ids of each text, special tokens included, truncated to {@link #maxTokens()}. */
    public int[][] tokenize(List<String> texts) {
        int[][] ids = new int[texts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenizer.encode(texts.get(i), maxTokens).ids();
        }
        return ids;
    }

    /** One embedding per text. */
    public float[][] embed(List<String> texts) {
        return embed(texts, done -> { });
    }

    /**
     * One embedding per text, reporting after each forward pass how many texts are done.
     *
     * @param progress called with the number of texts embedded so far
     */
    public float[][] embed(List<String> texts, IntConsumer progress) {
        return embedIds(tokenize(texts), progress);
    }

    /** One embedding per already tokenized text, in batches of at most {@link #batchTokens()} tokens. */
    public float[][] embedIds(int[][] ids, IntConsumer progress) {
        float[][] out = new float[ids.length][];
        int from = 0;
        while (from < ids.length) {
            int to = from, tokens = 0;
            while (to < ids.length && (to == from || tokens + ids[to].length <= batchTokens)) {
                tokens += ids[to++].length;
            }
            float[][] batch = model.embed(java.util.Arrays.copyOfRange(ids, from, to), null);
            System.arraycopy(batch, 0, out, from, batch.length);
            from = to;
            progress.accept(from);
        }
        return out;
    }

    /** The model's pooling. */
    public Pooling pooling() {
        return model.config().pooling();
    }

    @Override
    public String toString() {
        BertConfig c = model.config();
        return source.name() + " (" + c.layers() + " layers, " + c.hidden() + " wide, " + c.heads() + " heads, "
                + c.pooling().name().toLowerCase(java.util.Locale.ROOT) + " pooling" + (c.normalize() ? ", normalised" : "")
                + "; attention " + model.attention() + ")";
    }
}
