package io.attn4j.catalog;

/** The sections of the catalog (CATALOG.md). */
public enum Family {
    EXACT("exact"),
    SPARSE("sparse"),
    LINEAR("linear"),
    SCORE("score function"),
    LAYOUT("head layout"),
    KV_POLICY("kv policy"),
    PARALLEL("parallel"),
    ANALYSIS("analysis");

    private final String label;

    Family(String label) {
        this.label = label;
    }

    /** The label used in tables and JSON. */
    public String label() {
        return label;
    }
}
