package io.attn4j.kv;

import io.attn4j.catalog.Family;
import io.attn4j.catalog.MechanismConfig;
import io.attn4j.catalog.Weights;

import java.util.Objects;
import java.util.function.Function;

/**
 * A KV policy's catalog entry (section 7 of CATALOG.md, {@link Family#KV_POLICY}): what the benchmarks, the
 * report and {@code attn4j mechanisms} list.
 *
 * @param id         the catalog id ({@code --policies})
 * @param system     the system it implements, as the literature names it
 * @param paper      the paper: title, authors, year and where to read it
 * @param weights    training-free, or needs calibration/trained parameters
 * @param time       cost of one compression, in n (rows cached), d, and the policy's parameters
 * @param memory     rows kept, and any state the policy adds
 * @param configType the type of its configuration
 * @param defaults   its default configuration
 * @param factory    creates the policy from a configuration of {@code configType}
 */
public record KvPolicyDescriptor(String id, String system, String paper, Weights weights, String time, String memory,
                                 Class<? extends MechanismConfig> configType, MechanismConfig defaults,
                                 Function<MechanismConfig, KvPolicy> factory) {

    public KvPolicyDescriptor {
        Objects.requireNonNull(id, "id");
        if (!configType.isInstance(defaults)) {
            throw new IllegalArgumentException("defaults of " + id + " are not a " + configType.getSimpleName());
        }
    }

    /** Always {@link Family#KV_POLICY}. */
    public Family family() {
        return Family.KV_POLICY;
    }

    /** The policy at its defaults. */
    public KvPolicy create() {
        return factory.apply(defaults);
    }

    /** The policy with {@code config}. */
    public KvPolicy create(MechanismConfig config) {
        if (!configType.isInstance(config)) {
            throw new IllegalArgumentException(id + " takes a " + configType.getSimpleName() + "; got "
                    + (config == null ? "null" : config.getClass().getSimpleName()));
        }
        return factory.apply(config);
    }
}
