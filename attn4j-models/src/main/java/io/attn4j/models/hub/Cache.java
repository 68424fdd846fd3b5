package io.attn4j.models.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The directory where downloaded models and corpora are kept between runs.
 *
 * <p>The root is, in order: the system property {@code attn4j.cache}, the environment variable
 * {@code ATTN4J_CACHE}, else {@code ~/.cache/attn4j}. A blank value counts as unset. Directories are created on
 * demand; everything under the root is written whole (temp file or directory, then an atomic move), so a cache
 * entry that exists is complete.
 */
public final class Cache {
    /** The system property that overrides the cache root. */
    public static final String PROPERTY = "attn4j.cache";
    /** The environment variable that overrides the cache root when the property is unset. */
    public static final String ENVIRONMENT = "ATTN4J_CACHE";

    private Cache() {
    }

    /** The cache root, created if missing. */
    public static Path root() {
        String configured = System.getProperty(PROPERTY);
        if (configured == null || configured.isBlank()) {
            configured = System.getenv(ENVIRONMENT);
        }
        Path root = configured == null || configured.isBlank()
                ? Path.of(System.getProperty("user.home"), ".cache", "attn4j")
                : Path.of(configured);
        return created(root.toAbsolutePath().normalize());
    }

    /**
     * A directory under the root ({@code dir("corpora")}), created if missing.
     *
     * @throws IllegalArgumentException if {@code first} or one of {@code more} is absolute or leaves the root
     */
    public static Path dir(String first, String... more) {
        Path root = root();
        Path dir = root.resolve(Path.of(first, more)).normalize();
        if (!dir.startsWith(root) || Path.of(first, more).isAbsolute()) {
            throw new IllegalArgumentException("cache directory " + Path.of(first, more)
                    + " is outside the cache root " + root + "; allowed: a relative path inside it");
        }
        return created(dir);
    }

    private static Path created(Path dir) {
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the attn4j cache directory " + dir + " (set -D" + PROPERTY
                    + "=DIR or " + ENVIRONMENT + " to a writable directory)", e);
        }
    }
}
