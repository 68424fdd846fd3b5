package io.attn4j.catalog;

/**
 * The settings of a mechanism (a record per mechanism, with {@code defaults()}). Mechanisms without settings use
 * {@link #NONE}.
 */
public interface MechanismConfig {
    /** The configuration of a mechanism that has no settings. */
    MechanismConfig NONE = new MechanismConfig() {
        @Override
        public String toString() {
            return "none";
        }
    };
}
