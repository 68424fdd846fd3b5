package io.attn4j.catalog;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.Pattern;
import io.attn4j.runtime.Engine;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * A catalog entry: what a mechanism is, what it supports, and how to create it.
 *
 * @param id          the name used everywhere (CATALOG.md): {@code --mechanisms}, JSON, reports
 * @param family      its section of the catalog
 * @param system      the system it implements, as the literature names it
 * @param paper       the paper: title, authors and year, and where to read it
 * @param patterns    the patterns it accepts; others are refused with a clear message
 * @param weights     training-free or trained
 * @param exact       whether it computes exact softmax attention (held to the reference's error bound)
 * @param lse         whether it can return the log-sum-exp (so its partial states merge)
 * @param observers   whether it computes the observers of {@link io.attn4j.attention.Observer}
 * @param time        time complexity, in n (sequence length), d (head dimension) and the mechanism's parameters
 * @param memory      extra memory beyond inputs and output
 * @param configType  the type of its configuration
 * @param defaults    its default configuration
 * @param factory     creates an instance from a configuration (of {@code configType}) and an engine
 * @param guarantees  the structural properties it promises (all of them when {@code exact})
 */
public record Mechanism(String id, Family family, String system, String paper, Set<Pattern> patterns,
                        Weights weights, boolean exact, boolean lse, boolean observers, String time, String memory,
                        Class<? extends MechanismConfig> configType, MechanismConfig defaults,
                        BiFunction<MechanismConfig, Engine, AttentionMechanism> factory,
                        Set<Guarantee> guarantees) {

    public Mechanism {
        Objects.requireNonNull(id, "id");
        patterns = Set.copyOf(EnumSet.copyOf(patterns));
        guarantees = guarantees.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(guarantees));
        if (exact && !guarantees.containsAll(Guarantee.all())) {
            throw new IllegalArgumentException(id + " is exact, so it promises every guarantee; got " + guarantees);
        }
        if (!configType.isInstance(defaults)) {
            throw new IllegalArgumentException("defaults of " + id + " are not a " + configType.getSimpleName());
        }
    }

    /** An exact mechanism's entry (every guarantee), or an approximation that promises none. */
    public Mechanism(String id, Family family, String system, String paper, Set<Pattern> patterns, Weights weights,
                     boolean exact, boolean lse, boolean observers, String time, String memory,
                     Class<? extends MechanismConfig> configType, MechanismConfig defaults,
                     BiFunction<MechanismConfig, Engine, AttentionMechanism> factory) {
        this(id, family, system, paper, patterns, weights, exact, lse, observers, time, memory, configType, defaults,
                factory, exact ? Guarantee.all() : Set.of());
    }

    /** Whether this mechanism promises {@code guarantee}. */
    public boolean promises(Guarantee guarantee) {
        return guarantees.contains(guarantee);
    }

    /** An instance with the default configuration on the default engine. */
    public AttentionMechanism create() {
        return create(defaults, Engine.defaults());
    }

    /** An instance with the default configuration on {@code engine}. */
    public AttentionMechanism create(Engine engine) {
        return create(defaults, engine);
    }

    /** An instance with {@code config} on the default engine. */
    public AttentionMechanism create(MechanismConfig config) {
        return create(config, Engine.defaults());
    }

    /** An instance with {@code config} on {@code engine}. */
    public AttentionMechanism create(MechanismConfig config, Engine engine) {
        if (!configType.isInstance(config)) {
            throw new IllegalArgumentException(id + " takes a " + configType.getSimpleName() + ", not "
                    + (config == null ? "null" : config.getClass().getSimpleName()));
        }
        return factory.apply(config, Objects.requireNonNull(engine, "engine"));
    }

    /**
     * Refuses a spec that asks for what this mechanism does not compute (observers, the log-sum-exp), naming it.
     *
     * @throws io.attn4j.attention.UnsupportedInputException if the spec needs a capability this mechanism lacks
     */
    public void checkSupports(io.attn4j.attention.AttentionSpec spec) {
        if (!observers && !spec.observers().isEmpty()) {
            throw new io.attn4j.attention.UnsupportedInputException(id + " computes no observers (asked for "
                    + spec.observers() + "); use flash or reference");
        }
        if (!lse && spec.isReturnLse()) {
            throw new io.attn4j.attention.UnsupportedInputException(id + " does not return the log-sum-exp");
        }
    }

    /**
     * Refuses a call of {@code pattern} when this mechanism does not declare it.
     *
     * @throws io.attn4j.attention.UnsupportedInputException naming the pattern and the ones it supports
     */
    public void requirePattern(Pattern pattern) {
        if (!supports(pattern)) {
            throw new io.attn4j.attention.UnsupportedInputException(id + " supports the patterns " + patternList()
                    + "; this call is " + pattern.id());
        }
    }

    /** Whether this mechanism accepts {@code pattern}. */
    public boolean supports(Pattern pattern) {
        return patterns.contains(pattern);
    }

    /** The patterns in declaration order, as text ({@code NS,CS,...}). */
    public String patternList() {
        StringBuilder sb = new StringBuilder();
        for (Pattern p : Pattern.values()) {
            if (patterns.contains(p)) {
                sb.append(sb.isEmpty() ? "" : ",").append(p.id());
            }
        }
        return sb.toString();
    }
}
