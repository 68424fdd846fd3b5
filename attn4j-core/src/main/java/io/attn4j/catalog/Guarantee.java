package io.attn4j.catalog;

import java.util.EnumSet;
import java.util.Set;

/**
 * Structural properties a mechanism promises, checked by the shared conformance suite. Exact mechanisms promise
 * all of them; an approximation declares the ones its algorithm keeps (a block-sparse selection scored with pooled
 * queries, for instance, lets a query's block neighbours influence which keys it sees, so it is not prefix
 * invariant).
 */
public enum Guarantee {
    /** Causal outputs depend only on the prefix: row i of a call equals row i of the call on tokens [0, i]. */
    PREFIX_INVARIANT,
    /** Packed documents ({@code Masks.documents}) give the same rows as one call per document. */
    PACKED_DOCUMENTS,
    /** Accepts a mask in the spec and never lets a query see a key that mask hides. */
    MASKS,
    /** Accepts a score mod in the spec and applies it to every score it computes. */
    SCORE_MODS;

    /** Every guarantee: what exact mechanisms promise. */
    public static Set<Guarantee> all() {
        return EnumSet.allOf(Guarantee.class);
    }
}
