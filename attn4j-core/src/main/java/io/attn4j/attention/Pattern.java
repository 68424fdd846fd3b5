package io.attn4j.attention;

/**
 * The attention patterns of CAB (Comprehensive Attention Benchmark) plus decode. Every mechanism declares which it
 * supports; a call with another pattern is refused with an {@link UnsupportedInputException}.
 */
public enum Pattern {
    /** Noncausal self-attention: {@code Lq == Lk}, every key visible (encoders). */
    NS,
    /** Causal self-attention: {@code Lq == Lk}, key {@code k} visible to query {@code i} iff {@code k <= i}. */
    CS,
    /** Noncausal cross-attention: {@code Lq != Lk}, every key visible. */
    NC,
    /** Causal cross-attention: {@code Lq != Lk}, causal with bottom-right alignment. */
    CC,
    /** Decode: at most {@value #DECODE_MAX_QUERIES} new queries against a longer cache. */
    DECODE;

    /** The most queries a call may have to count as decode. */
    public static final int DECODE_MAX_QUERIES = 16;

    /** The pattern of a call with the given lengths. */
    public static Pattern of(int queryLength, int keyLength, boolean causal) {
        if (queryLength < keyLength && queryLength <= DECODE_MAX_QUERIES) {
            return DECODE;
        }
        if (queryLength == keyLength) {
            return causal ? CS : NS;
        }
        return causal ? CC : NC;
    }

    /** The name used on the command line and in JSON: {@code NS}, {@code CS}, {@code NC}, {@code CC}, {@code decode}. */
    public String id() {
        return this == DECODE ? "decode" : name();
    }

    /** Parses {@code NS}, {@code CS}, {@code NC}, {@code CC} or {@code decode} (any case). */
    public static Pattern parse(String text) {
        for (Pattern p : values()) {
            if (p.name().equalsIgnoreCase(text.trim())) {
                return p;
            }
        }
        throw new IllegalArgumentException("pattern '" + text + "'; allowed: NS, CS, NC, CC, decode");
    }
}
