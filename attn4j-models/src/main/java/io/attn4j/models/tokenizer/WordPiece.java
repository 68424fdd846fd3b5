package io.attn4j.models.tokenizer;

import java.util.Map;

/**
 * Hugging Face's {@code WordPiece} model: a word is cut greedily into the longest vocabulary entries from the left,
 * every piece after the first looked up with the continuing-subword prefix ({@code ##}); a word that cannot be cut
 * that way, or that is longer than {@code maxInputCharsPerWord} code points, is the unknown token. Candidates are
 * never longer than the longest vocabulary entry, so a word of n code points costs O(n · longest entry) lookups.
 */
final class WordPiece {
    private final Map<String, Integer> vocab;
    private final int unknownId;
    private final String continuingPrefix;
    private final int maxInputCharsPerWord;
    private final int longestEntry; // in code points, prefix excluded

    WordPiece(Map<String, Integer> vocab, int unknownId, String continuingPrefix, int maxInputCharsPerWord) {
        this.vocab = vocab;
        this.unknownId = unknownId;
        this.continuingPrefix = continuingPrefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
        int longest = 0;
        for (String entry : vocab.keySet()) {
            longest = Math.max(longest, entry.codePointCount(0, entry.length()));
        }
        this.longestEntry = longest;
    }

    /**
     * Appends the ids of {@code word}'s pieces to {@code ids}, at most {@code limit} of them (a word's pieces past
     * the limit would be cut by truncation anyway).
     */
    void tokenize(String word, IntList ids, int limit) {
        int codePoints = word.codePointCount(0, word.length());
        if (codePoints > maxInputCharsPerWord) {
            ids.add(unknownId);
            return;
        }
        int mark = ids.size();
        int start = 0;
        while (start < word.length()) {
            // the longest candidate: at most longestEntry code points
            int end = word.offsetByCodePoints(start, Math.min(longestEntry, word.codePointCount(start, word.length())));
            Integer id = null;
            while (end > start) {
                String piece = word.substring(start, end);
                id = vocab.get(start > 0 ? continuingPrefix + piece : piece);
                if (id != null) {
                    break;
                }
                end = word.offsetByCodePoints(end, -1);
            }
            if (id == null) {
                ids.truncate(mark);
                ids.add(unknownId);
                return;
            }
            if (ids.size() < limit) {
                ids.add(id);
            }
            start = end;
        }
    }
}
