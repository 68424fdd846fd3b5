package io.attn4j.models.format;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.attn4j.util.Json;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;

/**
 * Fuzzes the JSON reader ({@link Json#parse}) and {@link HfConfig}: any bytes, valid UTF-8 or not, must parse or
 * be refused with an {@link IllegalArgumentException} (for {@code HfConfig}, a {@link ModelFormatException} naming
 * the file). Seeds are real and minimal configs. Fuzzed by the {@code fuzz-config} surefire execution; the default
 * run replays the seeds.
 */
class HfConfigFuzzTest {
    static final String SOURCE = "config.json";

    static Stream<byte[]> seeds() {
        return Stream.of(HfConfigTest.MINILM,
                        "{\"hidden_size\":8,\"num_attention_heads\":2,\"num_hidden_layers\":1,\"intermediate_size\":16,"
                                + "\"vocab_size\":10,\"max_position_embeddings\":4,\"layer_norm_eps\":1e-5}",
                        "[{\"a\":[1,2.5e-3,-0,true,false,null,\"\\u00e9\\n\"]}]")
                .map(s -> s.getBytes(StandardCharsets.UTF_8));
    }

    @MethodSource("seeds")
    @DictionaryEntries({"\"hidden_size\"", "\"num_attention_heads\"", "\"num_hidden_layers\"", "\"intermediate_size\"",
            "\"layer_norm_eps\"", "\"max_position_embeddings\"", "\"vocab_size\"", "\"type_vocab_size\"",
            "\"hidden_act\"", "\"model_type\"", "\\u", "1e-12", "true", "null"})
    @FuzzTest(maxDuration = "25s")
    void parseAnyConfig(byte[] input) {
        try {
            Json.parse(new String(input, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            if (e.getMessage() == null || e.getMessage().isEmpty()) {
                throw new AssertionError("JSON refusal without a message", e);
            }
        }
        try {
            HfConfig.parse(input, SOURCE);
        } catch (IllegalArgumentException e) {
            FuzzChecks.assertClear(e, SOURCE);
        }
    }
}
