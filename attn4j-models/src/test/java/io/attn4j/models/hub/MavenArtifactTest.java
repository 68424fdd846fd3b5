package io.attn4j.models.hub;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link MavenArtifact} against a local repository in a temporary directory and a loopback "remote" repository,
 * and {@link EmbeddingJar} on synthetic jars and class files. No test here reaches the internet.
 */
class MavenArtifactTest {
    private static final MavenArtifact ARTIFACT = MavenArtifact.parse("org.example:tiny-model:1.0");

    @TempDir
    Path dir;
    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    private final Map<String, String> saved = new java.util.HashMap<>();
    private byte[] jar;

    @BeforeEach
    void start() throws IOException {
        jar = jar(Map.of("tiny.onnx", "onnx bytes", "tiny-tokenizer.json", "{}"), "CLS");
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/repo/", exchange -> {
            requests.incrementAndGet();
            String path = exchange.getRequestURI().getPath().substring("/repo/".length());
            byte[] body = path.equals(ARTIFACT.path()) ? jar
                    : path.equals(ARTIFACT.path() + ".sha1") ? (sha1(jar) + "  tiny-model-1.0.jar\n").getBytes()
                    : null;
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
                exchange.close();
                return;
            }
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        set("maven.repo.local", dir.resolve("m2").toString());
        set(Cache.PROPERTY, dir.resolve("cache").toString());
        set(MavenArtifact.REMOTE_PROPERTY, "http://127.0.0.1:" + server.getAddress().getPort() + "/repo");
    }

    private void set(String key, String value) {
        saved.put(key, System.getProperty(key));
        System.setProperty(key, value);
    }

    @AfterEach
    void stop() {
        server.stop(0);
        saved.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    @Test
    void coordinatesAreParsedAndChecked() {
        assertEquals("org/example/tiny-model/1.0/tiny-model-1.0.jar", ARTIFACT.path());
        assertEquals("org.example:tiny-model:1.0", ARTIFACT.toString());
        assertTrue(MavenArtifact.looksLikeCoordinates("a:b:c"));
        assertFalse(MavenArtifact.looksLikeCoordinates("minilm"));
        assertFalse(MavenArtifact.looksLikeCoordinates("./dir:with:colons/x"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MavenArtifact.parse("a:b"));
        assertTrue(e.getMessage().contains("groupId:artifactId:version"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> MavenArtifact.parse("a:../b:1"));
        assertTrue(e.getMessage().contains("artifactId = '../b'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MavenArtifact.parse("a:b:"));
        assertEquals("0123456789abcdef0123456789abcdef01234567",
                MavenArtifact.sha1Of("0123456789ABCDEF0123456789abcdef01234567 file.jar"));
        assertThrows(IllegalArgumentException.class, () -> MavenArtifact.sha1Of("<html>not found</html>"));
    }

    @Test
    void aMissingJarIsFetchedOnceVerifiedAgainstTheRepositoryChecksumAndCached() throws IOException {
        Path first = ARTIFACT.resolve(null);
        assertTrue(first.startsWith(dir.resolve("cache")), first.toString());
        assertArrayEquals(jar, Files.readAllBytes(first));
        int after = requests.get();
        assertEquals(2, after); // the .sha1, then the jar
        assertEquals(first, ARTIFACT.resolve(sha1(jar))); // pinned and present: no request
        assertEquals(after, requests.get());
    }

    @Test
    void aPinnedDigestThatTheRemoteJarDoesNotMatchIsRefusedAndNothingIsKept() {
        String wrong = "0".repeat(40);
        DownloadException e = assertThrows(DownloadException.class, () -> ARTIFACT.resolve(wrong));
        assertTrue(e.getMessage().contains("sha1"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("cache").resolve("maven").resolve(ARTIFACT.path())));
    }

    @Test
    void theLocalRepositoryIsUsedWhenItsJarMatches() throws IOException {
        Path local = dir.resolve("m2").resolve(ARTIFACT.path());
        Files.createDirectories(local.getParent());
        Files.write(local, jar);
        assertEquals(local, ARTIFACT.resolve(null)); // no checksum file: used as Maven installed it
        Files.writeString(local.resolveSibling(local.getFileName() + ".sha1"), sha1(jar));
        assertEquals(local, ARTIFACT.resolve(null));
        assertEquals(local, ARTIFACT.resolve(sha1(jar)));
        assertEquals(0, requests.get());

        // a corrupted local jar: with a pin, a verified copy is fetched; without one, a clear error
        Files.write(local, "corrupt".getBytes(StandardCharsets.UTF_8));
        DownloadException e = assertThrows(DownloadException.class, () -> ARTIFACT.resolve(null));
        assertTrue(e.getMessage().contains("does not match its checksum file"), e.getMessage());
        Path fetched = ARTIFACT.resolve(sha1(jar));
        assertTrue(fetched.startsWith(dir.resolve("cache")), fetched.toString());
        assertArrayEquals(jar, Files.readAllBytes(fetched));
    }

    @Test
    void anUnknownArtifactIsAClearError() {
        MavenArtifact missing = MavenArtifact.parse("org.example:nothing:9");
        DownloadException e = assertThrows(DownloadException.class, () -> missing.resolve(null));
        assertTrue(e.getMessage().contains("404"), e.getMessage());
    }

    @Test
    void anEmbeddingJarIsUnpackedWithThePoolingItsClassNames() throws IOException {
        Path jarFile = dir.resolve("tiny.jar");
        Files.write(jarFile, jar);
        Path target = dir.resolve("unpacked");
        EmbeddingJar.Contents c = EmbeddingJar.unpack(jarFile, target);
        assertEquals("CLS", c.pooling());
        assertEquals("onnx bytes", Files.readString(target.resolve(EmbeddingJar.MODEL)));
        assertEquals("{}", Files.readString(target.resolve(EmbeddingJar.TOKENIZER)));
        try (var files = Files.list(dir)) {
            assertEquals(0, files.filter(p -> p.getFileName().toString().startsWith(".")).count(), "no temp left");
        }

        Files.write(jarFile, jar(Map.of("a.onnx", "x", "b.onnx", "y", "tokenizer.json", "{}"), "MEAN"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddingJar.unpack(jarFile, dir.resolve("other")));
        assertTrue(e.getMessage().contains("holds 2 entries ending in '.onnx'"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("other")));

        Files.write(jarFile, jar(Map.of("a.onnx", "x", "tokenizer.json", "{}"), null));
        assertNull(EmbeddingJar.unpack(jarFile, dir.resolve("third")).pooling());

        Files.writeString(jarFile, "not a zip");
        e = assertThrows(IllegalArgumentException.class, () -> EmbeddingJar.unpack(jarFile, dir.resolve("fourth")));
        assertTrue(e.getMessage().contains("not a readable jar"), e.getMessage());
    }

    @Test
    void theRealMiniLmModelClassNamesMeanPooling() throws IOException {
        try (var in = getClass().getResourceAsStream(
                "/dev/langchain4j/model/embedding/onnx/allminilml6v2/AllMiniLmL6V2EmbeddingModel.class")) {
            assertEquals(java.util.Set.of("MEAN"), ClassConstants.fieldsOf(in.readAllBytes(),
                    "dev/langchain4j/model/embedding/onnx/PoolingMode", "AllMiniLmL6V2EmbeddingModel.class"));
        }
    }

    @Test
    void truncatedOrMalformedClassFilesAreClearErrors() {
        byte[] good = classFile("CLS");
        assertEquals(java.util.Set.of("CLS"), ClassConstants.fieldsOf(good,
                "dev/langchain4j/model/embedding/onnx/PoolingMode", "X.class"));
        for (int cut = 0; cut < good.length; cut++) {
            byte[] truncated = java.util.Arrays.copyOf(good, cut);
            assertThrows(IllegalArgumentException.class, () -> ClassConstants.fieldsOf(truncated, "a/B", "X.class"),
                    "cut at " + cut);
        }
        byte[] badTag = good.clone();
        badTag[10] = 42;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClassConstants.fieldsOf(badTag, "a/B", "X.class"));
        assertTrue(e.getMessage().contains("tag 42"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------- fixtures

    private static byte[] jar(Map<String, String> files, String pooling) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (Map.Entry<String, String> f : new java.util.TreeMap<>(files).entrySet()) {
                zip.putNextEntry(new ZipEntry(f.getKey()));
                zip.write(f.getValue().getBytes(StandardCharsets.UTF_8));
                zip.closeEntry();
            }
            if (pooling != null) {
                zip.putNextEntry(new ZipEntry("org/example/TinyModel.class"));
                zip.write(classFile(pooling));
                zip.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    /** A class file whose constant pool holds a Fieldref to {@code PoolingMode.<field>} (and nothing else). */
    static byte[] classFile(String field) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        java.io.DataOutputStream data = new java.io.DataOutputStream(out);
        try {
            data.writeInt(0xCAFEBABE);
            data.writeShort(0);
            data.writeShort(69);
            data.writeShort(9); // constants 1..8
            data.writeByte(1); // #1 Utf8 class name
            data.writeUTF("dev/langchain4j/model/embedding/onnx/PoolingMode");
            data.writeByte(7); // #2 Class -> #1
            data.writeShort(1);
            data.writeByte(1); // #3 Utf8 field name
            data.writeUTF(field);
            data.writeByte(1); // #4 Utf8 descriptor
            data.writeUTF("Ldev/langchain4j/model/embedding/onnx/PoolingMode;");
            data.writeByte(12); // #5 NameAndType -> #3, #4
            data.writeShort(3);
            data.writeShort(4);
            data.writeByte(9); // #6 Fieldref -> #2, #5
            data.writeShort(2);
            data.writeShort(5);
            data.writeByte(5); // #7 Long: takes two slots, #7 and #8, so the count of 8 ends here
            data.writeLong(42);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out.toByteArray();
    }

    private static String sha1(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
