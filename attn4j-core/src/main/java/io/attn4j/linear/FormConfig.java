package io.attn4j.linear;

import io.attn4j.catalog.MechanismConfig;

import java.util.Objects;

/**
 * The configuration of a recurrent mechanism whose only setting is the form {@code forward} uses (Aaren,
 * Flowformer, LightNet: their parameters are the model's, not the attention's).
 *
 * @param form the form {@code forward} uses
 */
public record FormConfig(Form form) implements MechanismConfig {
    public FormConfig {
        Objects.requireNonNull(form, "form");
    }

    /** Chunked, {@value Form#DEFAULT_CHUNK} tokens per chunk. */
    public static FormConfig defaults() {
        return new FormConfig(Form.chunked());
    }

    public FormConfig withForm(Form newForm) {
        return new FormConfig(newForm);
    }
}
