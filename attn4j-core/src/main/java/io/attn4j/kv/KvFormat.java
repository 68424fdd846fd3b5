package io.attn4j.kv;

import java.util.Locale;

/**
 * How a {@link KvCache} stores each key and value row: float32, or int8 / int4 codes with per-group scales.
 *
 * <p><b>Quantisation.</b> A row of {@code dim} elements is cut into groups of {@code groupSize} consecutive
 * elements (the last group may be shorter). Each group stores its minimum {@code lo} and step
 * {@code step = (max − lo) / (2^bits − 1)} as two float32, and each element the code
 * {@code c = round((x − lo) / step)} in {@code [0, 2^bits − 1]} (asymmetric min-max quantisation, the scheme KIVI and
 * QServe use for KV caches). Dequantised, {@code x̂ = lo + c · step}, so
 * <pre>
 *   |x − x̂| ≤ step / 2 = (max − min) / (2 · (2^bits − 1))      per element, within its group
 * </pre>
 * plus float32 rounding of {@code lo + c·step} (a relative 2^-24 of its magnitude). A group whose elements are
 * equal has step 0 and is exact. Rows are quantised per token as they are appended, so nothing is re-quantised
 * when the cache grows or is compressed. Non-finite inputs are refused at append.
 *
 * <p><b>Bytes per row</b>: float32 {@code 4·dim}; int8 {@code dim + 8·groups}; int4 {@code ⌈dim/2⌉ + 8·groups}. With
 * {@code dim = 128} and groups of 64: 512, 144 (28 %) and 80 (16 %) bytes.
 *
 * @param precision float32, int8 or int4
 * @param groupSize elements per scale group (quantised formats; {@code dim} rows of float32 ignore it)
 */
public record KvFormat(Precision precision, int groupSize) {

    /** The element types. */
    public enum Precision {
        FLOAT32(32), INT8(8), INT4(4);

        private final int bits;

        Precision(int bits) {
            this.bits = bits;
        }

        /** Bits per element. */
        public int bits() {
            return bits;
        }

        /** The largest code: {@code 2^bits − 1}. */
        public int maxCode() {
            return (1 << bits) - 1;
        }
    }

    /** Groups of 64 elements by default (two scales per 64 elements: 0.125 bytes per element). */
    public static final int DEFAULT_GROUP = 64;

    public KvFormat {
        if (precision == null) {
            throw new IllegalArgumentException("precision is null; allowed: FLOAT32, INT8, INT4");
        }
        if (precision != Precision.FLOAT32 && (groupSize < 2 || groupSize > 65536 || groupSize % 2 != 0)) {
            throw new IllegalArgumentException("groupSize = " + groupSize
                    + "; allowed: an even number from 2 to 65536");
        }
    }

    public static KvFormat float32() {
        return new KvFormat(Precision.FLOAT32, 0);
    }

    public static KvFormat int8(int groupSize) {
        return new KvFormat(Precision.INT8, groupSize);
    }

    public static KvFormat int4(int groupSize) {
        return new KvFormat(Precision.INT4, groupSize);
    }

    /** {@code float32}, {@code int8}, {@code int4}, optionally with {@code :groupSize} ({@code int4:32}). */
    public static KvFormat parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("KV format is empty; allowed: float32, int8[:group], int4[:group]");
        }
        String[] parts = text.trim().toLowerCase(Locale.ROOT).split(":", 2);
        int group = DEFAULT_GROUP;
        if (parts.length == 2) {
            try {
                group = Integer.parseInt(parts[1]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("KV format '" + text + "': group size '" + parts[1]
                        + "' is not an integer");
            }
        }
        return switch (parts[0]) {
            case "float32", "f32" -> {
                if (parts.length == 2) {
                    throw new IllegalArgumentException("KV format '" + text + "': float32 takes no group size");
                }
                yield float32();
            }
            case "int8" -> int8(group);
            case "int4" -> int4(group);
            default -> throw new IllegalArgumentException("KV format '" + text
                    + "'; allowed: float32, int8[:group], int4[:group]");
        };
    }

    /** Whether rows are stored as codes with scales. */
    public boolean quantized() {
        return precision != Precision.FLOAT32;
    }

    /** Scale groups in a row of {@code dim} elements (0 for float32). */
    public int groups(int dim) {
        return quantized() ? (dim + groupSize - 1) / groupSize : 0;
    }

    /** Bytes of codes in a row (float32: the floats). */
    public int codeBytes(int dim) {
        return switch (precision) {
            case FLOAT32 -> 4 * dim;
            case INT8 -> dim;
            case INT4 -> (dim + 1) / 2;
        };
    }

    /** Bytes of scales in a row: two float32 per group. */
    public int scaleBytes(int dim) {
        return 8 * groups(dim);
    }

    /** Bytes a row of {@code dim} elements takes: codes plus scales. */
    public int bytesPerRow(int dim) {
        return codeBytes(dim) + scaleBytes(dim);
    }

    /**
     * The documented worst-case absolute error of one element of a group whose values span {@code range}
     * ({@code max − min}): half a step (0 for float32).
     */
    public double maxError(double range) {
        return quantized() ? range / (2.0 * precision.maxCode()) : 0;
    }

    @Override
    public String toString() {
        return quantized() ? precision.name().toLowerCase(Locale.ROOT) + ":" + groupSize : "float32";
    }
}
