package io.attn4j.models.format;

/**
 * A model file (ONNX, safetensors, {@code config.json}) is truncated, corrupt or declares something this reader
 * does not accept. The message names the file, the field, the offset or value at fault and what is allowed.
 *
 * <p>It is an {@link IllegalArgumentException}: the file is the argument that is wrong. Readers never let a bad
 * file surface as an {@code IndexOutOfBoundsException}, a {@code NegativeArraySizeException} or an
 * {@code OutOfMemoryError}; every declared length is checked against the bytes that remain before it is used.
 */
public final class ModelFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
