package io.attn4j.attention;

/**
 * A mechanism cannot take this input (pattern, shape, option). The message names the requirement that failed and
 * what the mechanism supports; mechanisms never fall back silently to something slower or different.
 */
public class UnsupportedInputException extends IllegalArgumentException {
    public UnsupportedInputException(String message) {
        super(message);
    }
}
