package io.attn4j.sparse;

import io.attn4j.catalog.MechanismConfig;

/**
 * The configuration of a mechanism whose cost is set by how many keys each query attends to. One budget drives
 * every sparse mechanism the same way — a window's length, a top-k's kept keys, a shard's stride — so they are
 * compared at equal budgets ({@code ./attn4j bench fidelity --budgets}, {@code hip@25%} in a plan).
 */
public interface BudgetedConfig extends MechanismConfig {

    /** This configuration with each query attending to about {@code budget} keys; the other settings kept. */
    BudgetedConfig withKeyBudget(KeyBudget budget);
}
