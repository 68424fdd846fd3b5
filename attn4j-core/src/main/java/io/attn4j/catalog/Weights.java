package io.attn4j.catalog;

/** Whether a mechanism works on any pretrained model or needs weights trained for it. */
public enum Weights {
    /** Training-free: works on any pretrained model. */
    FREE("free"),
    /** Needs parameters trained for it (forward pass with given parameters). */
    TRAINED("trained");

    private final String label;

    Weights(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
