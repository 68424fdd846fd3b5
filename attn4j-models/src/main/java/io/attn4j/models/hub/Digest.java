package io.attn4j.models.hub;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Locale;

/**
 * A content digest that a downloaded file must match: the algorithm ({@code sha1}, {@code sha256} or
 * {@code sha512}) and the digest bytes.
 *
 * <p>Written {@code "sha1:<hex>"}, {@code "sha256:<hex>"}, {@code "sha512:<base64>"} (hex is accepted for every
 * algorithm, base64 too), or in the npm/Subresource-Integrity form {@code "sha512-<base64>"} that the npm registry
 * publishes as a package's {@code integrity}.
 *
 * @param algorithm {@code sha1}, {@code sha256} or {@code sha512}
 * @param value     the digest bytes (20, 32 or 64 of them)
 */
public record Digest(String algorithm, byte[] value) {

    public Digest {
        int expected = length(algorithm);
        if (value == null || value.length != expected) {
            throw new IllegalArgumentException("digest value of " + (value == null ? "null" : value.length)
                    + " bytes for " + algorithm + "; allowed: " + expected + " bytes");
        }
        value = value.clone();
    }

    /**
     * Parses a digest written as described in the class comment.
     *
     * @throws IllegalArgumentException naming the text and the allowed forms if it is none of them
     */
    public static Digest parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("digest = null; allowed: sha1:<hex>, sha256:<hex>, sha512:<base64>"
                    + " or sha512-<base64>");
        }
        int colon = text.indexOf(':');
        int dash = text.indexOf('-');
        int cut = colon >= 0 ? colon : dash;
        String algorithm = cut < 0 ? "" : text.substring(0, cut).trim().toLowerCase(Locale.ROOT);
        String encoded = cut < 0 ? "" : text.substring(cut + 1).trim();
        int length;
        try {
            length = length(algorithm);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("digest '" + text + "' has algorithm '" + algorithm
                    + "'; allowed: sha1, sha256, sha512 as sha1:<hex>, sha256:<hex>, sha512:<base64> or sha512-<base64>");
        }
        byte[] value = null;
        if (colon >= 0 && encoded.length() == 2 * length && encoded.chars().allMatch(Digest::isHex)) {
            value = HexFormat.of().parseHex(encoded);
        } else {
            try {
                value = Base64.getDecoder().decode(encoded);
            } catch (IllegalArgumentException e) {
                // reported below
            }
        }
        if (value == null || value.length != length) {
            throw new IllegalArgumentException("digest '" + text + "' is not " + length + " bytes of " + algorithm
                    + " in hex or base64");
        }
        return new Digest(algorithm, value);
    }

    /** The digest of a file's bytes with this digest's algorithm. */
    public Digest of(Path file) throws IOException {
        MessageDigest md = messageDigest(algorithm);
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                md.update(buffer, 0, n);
            }
        }
        return new Digest(algorithm, md.digest());
    }

    /** A fresh {@link MessageDigest} for this digest's algorithm, to compute a digest while streaming. */
    public MessageDigest newMessageDigest() {
        return messageDigest(algorithm);
    }

    /** Whether {@code other} has the same algorithm and bytes. */
    public boolean matches(Digest other) {
        return other != null && algorithm.equals(other.algorithm) && MessageDigest.isEqual(value, other.value);
    }

    @Override
    public byte[] value() {
        return value.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Digest d && matches(d);
    }

    @Override
    public int hashCode() {
        return algorithm.hashCode() * 31 + Arrays.hashCode(value);
    }

    /** {@code sha1:<hex>}, {@code sha256:<hex>} or {@code sha512:<base64>}: the forms the class comment names first. */
    @Override
    public String toString() {
        return algorithm + ":" + (algorithm.equals("sha512")
                ? Base64.getEncoder().encodeToString(value) : HexFormat.of().formatHex(value));
    }

    private static boolean isHex(int c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    private static int length(String algorithm) {
        return switch (algorithm == null ? "" : algorithm) {
            case "sha1" -> 20;
            case "sha256" -> 32;
            case "sha512" -> 64;
            default -> throw new IllegalArgumentException("digest algorithm '" + algorithm
                    + "'; allowed: sha1, sha256, sha512");
        };
    }

    private static MessageDigest messageDigest(String algorithm) {
        String name = switch (algorithm) {
            case "sha1" -> "SHA-1";
            case "sha256" -> "SHA-256";
            default -> "SHA-512";
        };
        try {
            return MessageDigest.getInstance(name);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no " + name + ", which every Java platform must provide", e);
        }
    }
}
