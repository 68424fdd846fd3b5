package io.attn4j.models.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The added tokens of a {@code tokenizer.json} ({@code [CLS]}, {@code [SEP]}, {@code [MASK]}, ...) that Hugging Face
 * finds in the text before the model sees it: the leftmost match wins, and of matches at the same position the
 * longest. A match becomes its token's id directly; the text between matches is tokenized as usual. O(length ·
 * tokens sharing a first character).
 */
final class AddedTokens {
    /** A piece of text: either an added token's id or text to tokenize. */
    record Piece(String text, int addedId) {
        boolean isAdded() {
            return addedId >= 0;
        }
    }

    private final Map<Character, List<Map.Entry<String, Integer>>> byFirstChar = new HashMap<>();

    /** @param tokens content → id; contents must be non-empty */
    AddedTokens(Map<String, Integer> tokens) {
        for (Map.Entry<String, Integer> e : tokens.entrySet()) {
            byFirstChar.computeIfAbsent(e.getKey().charAt(0), k -> new ArrayList<>()).add(Map.entry(e.getKey(), e.getValue()));
        }
        for (List<Map.Entry<String, Integer>> list : byFirstChar.values()) {
            list.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> e.getKey().length()).reversed());
        }
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    /** {@code text} cut at the added tokens found in it; text pieces are never empty. */
    List<Piece> split(String text) {
        List<Piece> pieces = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            pieces.add(new Piece(text, -1));
            return pieces;
        }
        int textStart = 0;
        for (int i = 0; i < text.length(); ) {
            Map.Entry<String, Integer> match = null;
            List<Map.Entry<String, Integer>> candidates = byFirstChar.get(text.charAt(i));
            if (candidates != null) {
                for (Map.Entry<String, Integer> candidate : candidates) {
                    if (text.startsWith(candidate.getKey(), i)) {
                        match = candidate; // longest first
                        break;
                    }
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            if (i > textStart) {
                pieces.add(new Piece(text.substring(textStart, i), -1));
            }
            pieces.add(new Piece(match.getKey(), match.getValue()));
            i += match.getKey().length();
            textStart = i;
        }
        if (textStart < text.length()) {
            pieces.add(new Piece(text.substring(textStart), -1));
        }
        return pieces;
    }
}
