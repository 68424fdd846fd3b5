package io.attn4j.linear;

import io.attn4j.attention.AttentionProblem;
import io.attn4j.attention.AttentionSpec;
import io.attn4j.attention.Masks;
import io.attn4j.attention.UnsupportedInputException;

import java.util.Arrays;

/**
 * The independent sequences of a call: every batch row, split into packed documents when the spec's mask is
 * {@link Masks#documents}. A recurrent mechanism runs each (sequence, KV head) from its own initial state; sequence
 * {@code b · documents() + d} is document {@code d} of batch row {@code b}.
 *
 * <p>Causal documents align bottom-right: the last query of a document sits at its last key, so query {@code j} of
 * a document with {@code lq} queries and {@code lk} keys sits at key position {@code j + lk − lq}. A query placed
 * before the first key (more queries than keys) reads the initial state alone.
 *
 * @param batch        batch rows
 * @param queryOffsets query rows {@code [queryOffsets[d], queryOffsets[d+1])} form document d
 * @param keyOffsets   key rows {@code [keyOffsets[d], keyOffsets[d+1])} form document d
 * @param causal       causal inside every document
 */
public record Segments(int batch, int[] queryOffsets, int[] keyOffsets, boolean causal) {

    /**
     * The segments of a validated call. The spec's mask may be absent or a packed-documents mask
     * ({@link Masks#packing}); any other mask is refused.
     *
     * @throws UnsupportedInputException for another mask, naming it
     */
    public static Segments of(String id, AttentionProblem p, AttentionSpec spec) {
        if (spec.mask() == null) {
            return new Segments(p.batch(), new int[] {0, p.queryLength()}, new int[] {0, p.keyLength()},
                    spec.isCausal());
        }
        Masks.Packing packing = Masks.packing(spec.mask());
        if (packing == null) {
            throw new UnsupportedInputException(id + " takes no mask besides causal and packed documents (got "
                    + spec.mask() + "); a recurrent state sees every earlier token of its sequence");
        }
        boolean causal = packing.causal() || spec.isCausal();
        if (spec.isCausal() && !packing.causal()
                && (p.queryLength() != p.keyLength() || !Arrays.equals(packing.queryOffsets(), packing.keyOffsets()))) {
            throw new UnsupportedInputException(id + ": a causal spec with documents whose query and key offsets "
                    + "differ is ambiguous; allowed: Masks.documents(queryOffsets, keyOffsets, Masks.causal())");
        }
        return new Segments(p.batch(), packing.queryOffsets(), packing.keyOffsets(), causal);
    }

    /** Documents per batch row. */
    public int documents() {
        return queryOffsets.length - 1;
    }

    /** Independent sequences: batch rows × documents. */
    public int sequences() {
        return batch * documents();
    }

    public int batchOf(int sequence) {
        return sequence / documents();
    }

    public int documentOf(int sequence) {
        return sequence % documents();
    }

    public int queryFrom(int sequence) {
        return queryOffsets[documentOf(sequence)];
    }

    public int queryLength(int sequence) {
        int d = documentOf(sequence);
        return queryOffsets[d + 1] - queryOffsets[d];
    }

    public int keyFrom(int sequence) {
        return keyOffsets[documentOf(sequence)];
    }

    public int keyLength(int sequence) {
        int d = documentOf(sequence);
        return keyOffsets[d + 1] - keyOffsets[d];
    }

    /** The key position (inside its document) of query {@code j} of a causal sequence. */
    public int positionOf(int sequence, int j) {
        return j + keyLength(sequence) - queryLength(sequence);
    }
}
