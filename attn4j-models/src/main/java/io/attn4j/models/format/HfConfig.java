package io.attn4j.models.format;

import io.attn4j.util.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The architecture of a model from a Hugging Face {@code config.json}, validated: the sizes a transformer runtime
 * needs, under their Hugging Face names, plus every key of the file for what a particular runtime maps itself.
 *
 * <p>Required keys (a missing one is an error naming it): {@code hidden_size}, {@code num_attention_heads},
 * {@code num_hidden_layers}, {@code intermediate_size}, {@code vocab_size}, {@code max_position_embeddings}. Each
 * must be a positive integer, and {@code hidden_size} a multiple of {@code num_attention_heads}. Optional keys
 * take the defaults of Hugging Face's {@code BertConfig}, the family read first: {@code layer_norm_eps} 1e-12
 * (positive and finite), {@code type_vocab_size} 2 (0 or more), {@code hidden_act} {@code "gelu"};
 * {@code model_type} is empty when absent.
 *
 * @param modelType             {@code model_type}, e.g. {@code "bert"}
 * @param hiddenSize            {@code hidden_size}
 * @param numAttentionHeads     {@code num_attention_heads}
 * @param numHiddenLayers       {@code num_hidden_layers}
 * @param intermediateSize      {@code intermediate_size}
 * @param layerNormEps          {@code layer_norm_eps}
 * @param maxPositionEmbeddings {@code max_position_embeddings}
 * @param vocabSize             {@code vocab_size}
 * @param typeVocabSize         {@code type_vocab_size}
 * @param hiddenAct             {@code hidden_act}, e.g. {@code "gelu"}
 * @param raw                   every key of the file, as {@link Json} parsed it (numbers are {@code Double})
 */
public record HfConfig(String modelType, int hiddenSize, int numAttentionHeads, int numHiddenLayers,
                       int intermediateSize, double layerNormEps, int maxPositionEmbeddings, int vocabSize,
                       int typeVocabSize, String hiddenAct, Map<String, Object> raw) {

    /** Larger files are refused before they are read: real configs are a few kilobytes. */
    public static final long MAX_CONFIG_BYTES = 16 << 20;

    public HfConfig {
        Objects.requireNonNull(modelType, "modelType");
        Objects.requireNonNull(hiddenAct, "hiddenAct");
        raw = Collections.unmodifiableMap(new LinkedHashMap<>(raw));
        positive("hidden_size", hiddenSize);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_hidden_layers", numHiddenLayers);
        positive("intermediate_size", intermediateSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        positive("vocab_size", vocabSize);
        if (typeVocabSize < 0) {
            throw new IllegalArgumentException("type_vocab_size is " + typeVocabSize + "; it must be >= 0");
        }
        if (!(layerNormEps > 0) || Double.isInfinite(layerNormEps)) {
            throw new IllegalArgumentException("layer_norm_eps is " + layerNormEps + "; it must be positive and finite");
        }
        if (hiddenSize % numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + hiddenSize + " is not a multiple of num_attention_heads "
                    + numAttentionHeads);
        }
    }

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(key + " is " + value + "; it must be a positive integer");
        }
    }

    /** The size of one attention head: {@code hidden_size / num_attention_heads}. */
    public int headSize() {
        return hiddenSize / numAttentionHeads;
    }

    /**
     * Reads {@code config.json} at {@code path}.
     *
     * @throws ModelFormatException if it is not UTF-8 JSON, or a key is missing or invalid
     */
    public static HfConfig read(Path path) throws IOException {
        long size = Files.size(path);
        if (size > MAX_CONFIG_BYTES) {
            throw new ModelFormatException(path.getFileName() + ": " + size + " bytes; a config.json is read up to "
                    + MAX_CONFIG_BYTES + " bytes");
        }
        return parse(Files.readAllBytes(path), String.valueOf(path.getFileName()));
    }

    /**
     * Parses the bytes of a {@code config.json}, which must be UTF-8.
     *
     * @param source the name used in error messages
     * @throws ModelFormatException if it is not UTF-8 JSON, or a key is missing or invalid
     */
    public static HfConfig parse(byte[] utf8, String source) {
        Objects.requireNonNull(utf8, "utf8");
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(utf8)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(source + ": not valid UTF-8");
        }
        return parse(text, source);
    }

    /**
     * Parses the text of a {@code config.json}.
     *
     * @param source the name used in error messages
     * @throws ModelFormatException if it is not JSON, or a key is missing or invalid
     */
    public static HfConfig parse(String json, String source) {
        Objects.requireNonNull(json, "json");
        Object parsed;
        try {
            parsed = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": not valid JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> map)) {
            throw new ModelFormatException(source + ": the document must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) map;
        try {
            return new HfConfig(
                    string(config, "model_type", "", source),
                    integer(config, "hidden_size", null, source),
                    integer(config, "num_attention_heads", null, source),
                    integer(config, "num_hidden_layers", null, source),
                    integer(config, "intermediate_size", null, source),
                    number(config, "layer_norm_eps", 1e-12, source),
                    integer(config, "max_position_embeddings", null, source),
                    integer(config, "vocab_size", null, source),
                    integer(config, "type_vocab_size", 2, source),
                    string(config, "hidden_act", "gelu", source),
                    config);
        } catch (ModelFormatException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source + ": " + e.getMessage(), e);
        }
    }

    private static int integer(Map<String, Object> config, String key, Integer fallback, String source) {
        Object value = config.get(key);
        if (value == null) {
            if (fallback == null) {
                throw new ModelFormatException(source + ": required key '" + key + "' is "
                        + (config.containsKey(key) ? "null" : "missing"));
            }
            return fallback;
        }
        if (!(value instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())
                || Math.abs(n.doubleValue()) > Integer.MAX_VALUE) {
            throw new ModelFormatException(source + ": '" + key + "' is " + value + "; it must be an integer of at most "
                    + Integer.MAX_VALUE);
        }
        return n.intValue();
    }

    private static double number(Map<String, Object> config, String key, double fallback, String source) {
        Object value = config.get(key);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof Number n)) {
            throw new ModelFormatException(source + ": '" + key + "' is " + value + "; it must be a number");
        }
        return n.doubleValue();
    }

    private static String string(Map<String, Object> config, String key, String fallback, String source) {
        Object value = config.get(key);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof String s)) {
            throw new ModelFormatException(source + ": '" + key + "' is " + value + "; it must be a string");
        }
        return s;
    }
}
