package io.attn4j.models.tokenizer;

/**
 * A {@code tokenizer.json} is well formed but configures something this tokenizer does not implement (another
 * model type, normalizer, pre-tokenizer or post-processor, left padding, a stride, an added-token option). The
 * message names the setting, its value and what is implemented; nothing is approximated.
 */
public class UnsupportedTokenizerException extends IllegalArgumentException {
    public UnsupportedTokenizerException(String message) {
        super(message);
    }
}
