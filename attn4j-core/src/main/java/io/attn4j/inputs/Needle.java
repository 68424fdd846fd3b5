package io.attn4j.inputs;

/**
 * A planted needle of a {@code structured} input: the key at {@code keyPosition} of KV head {@code kvHead} carries
 * a direction that only the query at row {@code queryIndex} (of every query head of the group) shares, so exact
 * attention from that query puts most of its mass on that key.
 *
 * @param batch       batch row
 * @param kvHead      KV head
 * @param keyPosition the needle key
 * @param queryIndex  the query row that looks for it (a later position)
 * @param depth       the needle's relative depth in the context, 0 (start) to 1 (end)
 */
public record Needle(int batch, int kvHead, int keyPosition, int queryIndex, double depth) {
}
