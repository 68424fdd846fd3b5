package io.attn4j.attention.exact;

import java.util.Arrays;

/**
 * Lean Attention's stream-K decomposition of decode work: items (batch rows, or the (sequence, KV head) streams
 * of a {@code KvCache}) each own a key range {@code [from, to)}; their concatenation is cut into {@code parts}
 * spans of equal length regardless of item boundaries, so every core streams the same number of keys whether the
 * work is one long item or many short ones. A span covers one or more <em>segments</em> (item, key range); the
 * segments of an item are consecutive, in key order, so their partial states merge left to right.
 *
 * @param parts            spans (0 when there is no key at all)
 * @param partStart        the first segment of span {@code p} is {@code partStart[p]}; {@code partStart[parts]}
 *                         is the segment count
 * @param segmentItem      the item of each segment
 * @param segmentFrom      the first key of each segment
 * @param segmentTo        the key after the last of each segment
 * @param itemFirstSegment the segments of item {@code i} are {@code itemFirstSegment[i] ..
 *                         itemFirstSegment[i + 1] − 1}
 */
public record LeanSplit(int parts, int[] partStart, int[] segmentItem, int[] segmentFrom, int[] segmentTo,
                        int[] itemFirstSegment) {

    /**
     * Splits items' key ranges into at most {@code maxParts} spans, none shorter than {@code minKeysPerPart} keys
     * (merging partial states costs more than a short span saves).
     */
    public static LeanSplit of(int[] itemFrom, int[] itemTo, int maxParts, int minKeysPerPart) {
        int items = itemFrom.length;
        long total = 0;
        for (int i = 0; i < items; i++) {
            total += Math.max(0, itemTo[i] - itemFrom[i]);
        }
        int parts = total == 0 ? 0 : (int) Math.max(1, Math.min(maxParts, total / Math.max(1, minKeysPerPart)));
        int[] segItem = new int[parts + items], segFrom = new int[parts + items], segTo = new int[parts + items];
        int[] partStart = new int[parts + 1];
        int[] itemFirst = new int[items + 1];
        int segments = 0, item = 0;
        long position = 0; // keys of the concatenation consumed so far
        int cursor = items == 0 ? 0 : itemFrom[0];
        for (int p = 0; p < parts; p++) {
            partStart[p] = segments;
            long end = total * (p + 1) / parts; // cut the concatenation at total·(p + 1)/parts
            while (position < end) {
                while (cursor >= itemTo[item]) {
                    itemFirst[++item] = segments;
                    cursor = itemFrom[item];
                }
                int take = (int) Math.min(itemTo[item] - cursor, end - position);
                segItem[segments] = item;
                segFrom[segments] = cursor;
                segTo[segments] = cursor + take;
                segments++;
                cursor += take;
                position += take;
            }
        }
        partStart[parts] = segments;
        while (item < items) {
            itemFirst[++item] = segments;
        }
        return new LeanSplit(parts, partStart, Arrays.copyOf(segItem, segments), Arrays.copyOf(segFrom, segments),
                Arrays.copyOf(segTo, segments), itemFirst);
    }

    /** Segments in all. */
    public int segments() {
        return segmentItem.length;
    }
}
