package io.attn4j.models.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HfConfigTest {
    /** The config.json of sentence-transformers/all-MiniLM-L6-v2 (a BertModel). */
    static final String MINILM = """
            {
              "_name_or_path": "nreimers/MiniLM-L6-H384-uncased",
              "architectures": ["BertModel"],
              "attention_probs_dropout_prob": 0.1,
              "gradient_checkpointing": false,
              "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1,
              "hidden_size": 384,
              "initializer_range": 0.02,
              "intermediate_size": 1536,
              "layer_norm_eps": 1e-12,
              "max_position_embeddings": 512,
              "model_type": "bert",
              "num_attention_heads": 12,
              "num_hidden_layers": 6,
              "pad_token_id": 0,
              "position_embedding_type": "absolute",
              "transformers_version": "4.8.2",
              "type_vocab_size": 2,
              "use_cache": true,
              "vocab_size": 30522
            }
            """;

    @TempDir
    Path dir;

    @Test
    void readsMiniLmConfig() throws IOException {
        Path file = dir.resolve("config.json");
        Files.writeString(file, MINILM);
        HfConfig c = HfConfig.read(file);
        assertEquals(new HfConfig("bert", 384, 12, 6, 1536, 1e-12, 512, 30522, 2, "gelu", c.raw()), c);
        assertEquals(32, c.headSize());
        assertEquals("absolute", c.raw().get("position_embedding_type"));
    }

    @Test
    void optionalKeysTakeBertDefaults() {
        HfConfig c = HfConfig.parse("{\"hidden_size\":8,\"num_attention_heads\":2,\"num_hidden_layers\":1,"
                + "\"intermediate_size\":16,\"vocab_size\":10,\"max_position_embeddings\":4}", "c.json");
        assertEquals("", c.modelType());
        assertEquals(1e-12, c.layerNormEps());
        assertEquals(2, c.typeVocabSize());
        assertEquals("gelu", c.hiddenAct());
    }

    @Test
    void missingAndInvalidKeysAreNamed() {
        for (String key : new String[] {"hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                "vocab_size", "max_position_embeddings"}) {
            String json = MINILM.replaceAll("\"" + key + "\": [0-9]+,|,\\s*\"" + key + "\": [0-9]+", "");
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfConfig.parse(json, "c.json"));
            assertEquals("c.json: required key '" + key + "' is missing", e.getMessage());
        }
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": null"), "required key 'hidden_size' is null");
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": \"384\""), "'hidden_size' is 384; it must be an integer");
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": 384.5"), "'hidden_size' is 384.5");
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": 1e10"), "it must be an integer of at most");
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": 0"), "hidden_size is 0; it must be a positive integer");
        assertInvalid(MINILM.replace("\"hidden_size\": 384", "\"hidden_size\": 380"), "hidden_size 380 is not a multiple of num_attention_heads 12");
        assertInvalid(MINILM.replace("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": -1"), "layer_norm_eps is -1.0");
        assertInvalid(MINILM.replace("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": 1e999"), "layer_norm_eps is Infinity");
        assertInvalid(MINILM.replace("\"model_type\": \"bert\"", "\"model_type\": 3"), "'model_type' is 3.0; it must be a string");
        assertInvalid("[1]", "must be a JSON object");
        assertInvalid("{\"a\":", "not valid JSON");
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> HfConfig.parse(new byte[] {'{', (byte) 0xC0, '}'}, "c.json"));
        assertEquals("c.json: not valid UTF-8", e.getMessage());
    }

    private static void assertInvalid(String json, String expected) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> HfConfig.parse(json, "c.json"));
        assertTrue(e.getMessage().startsWith("c.json: ") && e.getMessage().contains(expected), e.getMessage());
    }
}
