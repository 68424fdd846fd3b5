package io.attn4j.models.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The WordPiece tokenizer of BERT-family encoders, read from a Hugging Face {@code tokenizer.json}, producing the
 * ids Hugging Face's {@code tokenizers} library produces for the same file.
 *
 * <p><b>Pipeline</b> (each step exactly as the file configures it; anything else is refused at load with an
 * {@link UnsupportedTokenizerException}):
 * <ol>
 *   <li>unpaired surrogates become U+FFFD (what a UTF-8 encoder, and so Hugging Face's Rust code, sees);</li>
 *   <li>added tokens with {@code normalized: false} ({@code [CLS]}, {@code [SEP]}, {@code [MASK]}, ...) are cut out
 *       of the raw text, leftmost-longest first, and become their ids; {@code single_word}, {@code lstrip} and
 *       {@code rstrip} must be false;</li>
 *   <li>the rest is normalized by {@code BertNormalizer} (clean text, space around CJK ideographs, strip
 *       accents, lowercase) or not at all ({@code null}); added tokens with
 *       {@code normalized: true} are then cut out of the normalized text;</li>
 *   <li>{@code BertPreTokenizer} splits it into words at white space and around each punctuation character (or
 *       {@code null}: each piece is one word);</li>
 *   <li>the {@code WordPiece} model cuts each word into vocabulary pieces, greedy longest-first, {@code ##} on
 *       continuations, the unknown token for words it cannot cut or longer than
 *       {@code max_input_chars_per_word};</li>
 *   <li>truncation keeps the first {@code maxLength − specials} tokens (right truncation, no stride), then the
 *       post-processor ({@code TemplateProcessing}, {@code BertProcessing} or {@code null}) adds the special tokens
 *       and type ids of its single-sequence template ({@code [CLS] $A [SEP]});</li>
 *   <li>{@link #encodeBatch} pads on the right to the longest encoding or a fixed length.</li>
 * </ol>
 * The file's own {@code truncation} and {@code padding} sections are read and checked (direction right, no stride)
 * and offered as {@link #configuredMaxLength()} and {@link #configuredPadding()}; the lengths used are the ones
 * passed to {@link #encode(String, int)} and {@link #encodeBatch}, {@value #DEFAULT_MAX_LENGTH} (BERT's position
 * limit) by default.
 *
 * <p><b>Unicode.</b> Hugging Face's character classes (punctuation, non-spacing marks, control and format
 * characters) come from Unicode 8.0 tables, and so do ours, whatever the JDK's Unicode version; white space is the
 * {@code White_Space} property; NFD and lower-casing are the JDK's. Unassigned code points are kept (as
 * {@code [UNK]}), as Hugging Face keeps them. On every code point, alone and in words, the ids equal Hugging
 * Face's ({@code tokenizers} 0.20).
 *
 * <p>Encoding costs O(text length + words · longest vocabulary entry) hash lookups and stops once
 * {@code maxLength} tokens are produced. A tokenizer is immutable and safe to share between threads.
 */
public final class BertTokenizer {
    /** BERT's maximum sequence length (its position embeddings), the default {@code maxLength}. */
    public static final int DEFAULT_MAX_LENGTH = 512;

    private final TokenizerJson.Parts parts;
    private final int specials;

    private BertTokenizer(TokenizerJson.Parts parts) {
        this.parts = parts;
        this.specials = parts.prefixIds().length + parts.suffixIds().length;
    }

    /**
     * Reads a {@code tokenizer.json}.
     *
     * @throws IOException                   if the file cannot be read
     * @throws UnsupportedTokenizerException if it configures something not implemented here
     * @throws IllegalArgumentException      if it is not UTF-8, not JSON, or a field has a wrong type or value (the
     *                                       message names the field as a JSON path)
     */
    public static BertTokenizer load(Path tokenizerJson) throws IOException {
        byte[] bytes = Files.readAllBytes(tokenizerJson);
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(tokenizerJson + " is not UTF-8 (" + e + "); allowed: a UTF-8"
                    + " tokenizer.json");
        }
        return new BertTokenizer(TokenizerJson.parse(json, tokenizerJson.toString()));
    }

    /**
     * Reads the text of a {@code tokenizer.json}, as {@link #load} does.
     *
     * @param json   the file's text
     * @param source what to call it in messages
     */
    public static BertTokenizer fromJson(String json, String source) {
        return new BertTokenizer(TokenizerJson.parse(json, source));
    }

    /** {@link #encode(String, int)} with {@link #DEFAULT_MAX_LENGTH}. */
    public Encoding encode(String text) {
        return encode(text, DEFAULT_MAX_LENGTH);
    }

    /**
     * The ids of {@code text} with the special tokens, at most {@code maxLength} of them, unpadded (attention mask
     * all 1).
     *
     * @throws IllegalArgumentException if {@code text} is null or {@code maxLength} leaves no room after the
     *                                  special tokens
     */
    public Encoding encode(String text, int maxLength) {
        if (text == null) {
            throw new IllegalArgumentException("text = null; allowed: a string");
        }
        checkMaxLength(maxLength);
        IntList ids = new IntList();
        IntList words = new IntList();
        tokenize(withoutUnpairedSurrogates(text), maxLength - specials, ids, words);
        int n = specials + ids.size();
        int[] outIds = new int[n];
        int[] outTypes = new int[n];
        int[] outWords = new int[n];
        int[] mask = new int[n];
        Arrays.fill(mask, 1);
        Arrays.fill(outWords, -1);
        int at = 0;
        for (int i = 0; i < parts.prefixIds().length; i++, at++) {
            outIds[at] = parts.prefixIds()[i];
            outTypes[at] = parts.prefixTypeIds()[i];
        }
        for (int i = 0; i < ids.size(); i++, at++) {
            outIds[at] = ids.get(i);
            outTypes[at] = parts.sequenceTypeId();
            outWords[at] = words.get(i);
        }
        for (int i = 0; i < parts.suffixIds().length; i++, at++) {
            outIds[at] = parts.suffixIds()[i];
            outTypes[at] = parts.suffixTypeIds()[i];
        }
        return new Encoding(outIds, outTypes, mask, outWords);
    }

    /**
     * Encodes every text ({@link #encode(String, int)}) and pads them to one length.
     *
     * @throws IllegalArgumentException if a text is null, {@code maxLength} is too small, or an encoding is
     *                                  longer than a fixed padding length
     */
    public Batch encodeBatch(List<String> texts, int maxLength, Padding padding) {
        if (texts == null || padding == null) {
            throw new IllegalArgumentException("texts = " + texts + ", padding = " + padding
                    + "; allowed: a list of strings and a padding");
        }
        List<Encoding> encodings = new ArrayList<>(texts.size());
        int longest = 0;
        for (String text : texts) {
            Encoding e = encode(text, maxLength);
            encodings.add(e);
            longest = Math.max(longest, e.length());
        }
        int length = padding.paddedLength(longest);
        long cells = (long) texts.size() * length;
        if (cells > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("batch of " + texts.size() + " × " + length + " tokens; allowed: at"
                    + " most " + (Integer.MAX_VALUE - 8) + " cells");
        }
        int[] ids = new int[(int) cells];
        int[] types = new int[(int) cells];
        int[] mask = new int[(int) cells];
        int[] lengths = new int[texts.size()];
        Arrays.fill(ids, parts.padId());
        Arrays.fill(types, parts.padTypeId());
        for (int row = 0; row < encodings.size(); row++) {
            Encoding e = encodings.get(row);
            System.arraycopy(e.ids(), 0, ids, row * length, e.length());
            System.arraycopy(e.typeIds(), 0, types, row * length, e.length());
            Arrays.fill(mask, row * length, row * length + e.length(), 1);
            lengths[row] = e.length();
        }
        return new Batch(texts.size(), length, ids, types, mask, lengths);
    }

    /** The number of ids: the vocabulary and the added tokens beyond it (ids are 0 … vocabSize − 1). */
    public int vocabSize() {
        return parts.tokens().length;
    }

    /** Whether {@code token} has an id (vocabulary or added token). */
    public boolean contains(String token) {
        return id(token).isPresent();
    }

    /** The id of {@code token} (vocabulary or added token), if it has one. */
    public OptionalInt id(String token) {
        Integer id = parts.vocab().get(token);
        if (id == null) {
            for (int i = parts.vocab().size(); i < parts.tokens().length; i++) {
                if (parts.tokens()[i].equals(token)) {
                    return OptionalInt.of(i);
                }
            }
            return OptionalInt.empty();
        }
        return OptionalInt.of(id);
    }

    /**
     * The token with id {@code id}.
     *
     * @throws IllegalArgumentException if {@code id} is not in {@code [0, vocabSize())}
     */
    public String token(int id) {
        if (id < 0 || id >= parts.tokens().length) {
            throw new IllegalArgumentException("token id = " + id + "; allowed: 0 … " + (parts.tokens().length - 1));
        }
        return parts.tokens()[id];
    }

    /** The tokens of an encoding's ids ({@code [CLS]}, {@code hello}, {@code ##s}, ...). */
    public List<String> tokens(Encoding encoding) {
        List<String> tokens = new ArrayList<>(encoding.length());
        for (int id : encoding.ids()) {
            tokens.add(token(id));
        }
        return tokens;
    }

    /** The number of special tokens the post-processor adds to one text ({@code [CLS]} and {@code [SEP]}: 2). */
    public int specialTokenCount() {
        return specials;
    }

    /** The id padding uses. */
    public int padId() {
        return parts.padId();
    }

    /** The {@code max_length} of the file's {@code truncation} section, if it has one. */
    public OptionalInt configuredMaxLength() {
        return parts.truncationMaxLength();
    }

    /** The file's {@code padding} section as a {@link Padding}, if it has one. */
    public Optional<Padding> configuredPadding() {
        return Optional.ofNullable(parts.padding());
    }

    private void checkMaxLength(int maxLength) {
        if (maxLength < specials || maxLength < 1) {
            throw new IllegalArgumentException("maxLength = " + maxLength + "; allowed: >= " + Math.max(1, specials)
                    + " (room for the " + specials + " special tokens)");
        }
    }

    /** Appends the ids and word indices of {@code text}'s tokens, at most {@code limit} of them. */
    private void tokenize(String text, int limit, IntList ids, IntList words) {
        int[] word = {0};
        for (AddedTokens.Piece raw : parts.rawAddedTokens().split(text)) {
            if (ids.size() >= limit) {
                return;
            }
            if (raw.isAdded()) {
                ids.add(raw.addedId());
                words.add(word[0]++);
                continue;
            }
            String normalized = parts.normalizer() == null ? raw.text() : parts.normalizer().normalize(raw.text());
            for (AddedTokens.Piece piece : parts.normalizedAddedTokens().split(normalized)) {
                if (ids.size() >= limit) {
                    return;
                }
                if (piece.isAdded()) {
                    ids.add(piece.addedId());
                    words.add(word[0]++);
                } else if (parts.bertPreTokenizer()) {
                    BertPreTokenizer.split(piece.text(), w -> wordPiece(w, word[0]++, limit, ids, words));
                } else if (!piece.text().isEmpty()) {
                    wordPiece(piece.text(), word[0]++, limit, ids, words);
                }
            }
        }
    }

    private void wordPiece(String word, int wordIndex, int limit, IntList ids, IntList words) {
        if (ids.size() >= limit) {
            return;
        }
        parts.wordPiece().tokenize(word, ids, limit);
        while (words.size() < ids.size()) {
            words.add(wordIndex);
        }
    }

    /** {@code text} with each unpaired surrogate replaced by U+FFFD. */
    static String withoutUnpairedSurrogates(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1));
            if (paired) {
                if (out != null) {
                    out.append(c).append(text.charAt(i + 1));
                }
                i++;
            } else if (Character.isSurrogate(c)) {
                if (out == null) {
                    out = new StringBuilder(text.length()).append(text, 0, i);
                }
                out.append('\uFFFD');
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }
}
