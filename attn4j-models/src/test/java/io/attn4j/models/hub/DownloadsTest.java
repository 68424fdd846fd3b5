package io.attn4j.models.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Downloads} against a local HTTP server: no test here reaches the internet. */
class DownloadsTest {
    private static final byte[] BODY = body();

    @TempDir
    Path dir;
    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/file.bin", exchange -> {
            requests.incrementAndGet();
            exchange.sendResponseHeaders(200, BODY.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(BODY);
            }
        });
        server.createContext("/moved", exchange -> {
            requests.incrementAndGet();
            exchange.getResponseHeaders().add("Location", "/file.bin");
            exchange.sendResponseHeaders(302, -1);
            exchange.close();
        });
        server.createContext("/stalled.bin", exchange -> {
            requests.incrementAndGet();
            exchange.sendResponseHeaders(200, BODY.length);
            OutputStream out = exchange.getResponseBody();
            out.write(BODY, 0, BODY.length / 2);
            out.flush();
            // Closing before the announced length was written drops the connection mid-body.
            try {
                out.close();
            } catch (IOException expected) {
                // "insufficient bytes written to stream"
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    @Test
    void downloadsVerifiesAndKeepsTheFile() throws Exception {
        Path target = dir.resolve("sub/file.bin");
        assertEquals(target, Downloads.fetch(url("/file.bin"), target, sha256(BODY)));
        assertArrayEquals(BODY, Files.readAllBytes(target));
        assertEquals(1, requests.get());
        assertOnly(target);
    }

    @Test
    void aCachedFileMakesNoRequest() throws Exception {
        Path target = dir.resolve("file.bin");
        Downloads.fetch(url("/file.bin"), target, sha512Integrity(BODY));
        Downloads.fetch(url("/file.bin"), target, sha512Integrity(BODY));
        Downloads.fetch(url("/file.bin"), target, "sha1:" + hex("SHA-1", BODY));
        assertEquals(1, requests.get());
    }

    @Test
    void aFilePutByHandIsUsedWithoutTheNetwork() throws Exception {
        Path target = dir.resolve("file.bin");
        Files.write(target, BODY);
        server.stop(0);
        assertEquals(target, Downloads.fetch(url("/file.bin"), target, sha256(BODY)));
        assertEquals(0, requests.get());
    }

    @Test
    void aStaleFileIsReplaced() throws Exception {
        Path target = dir.resolve("file.bin");
        Files.writeString(target, "old");
        Downloads.fetch(url("/file.bin"), target, sha256(BODY));
        assertArrayEquals(BODY, Files.readAllBytes(target));
    }

    @Test
    void followsRedirects() throws Exception {
        Path target = dir.resolve("file.bin");
        Downloads.fetch(url("/moved"), target, sha256(BODY));
        assertArrayEquals(BODY, Files.readAllBytes(target));
        assertEquals(2, requests.get());
    }

    @Test
    void aDigestMismatchDiscardsTheDownload() {
        Path target = dir.resolve("file.bin");
        String wrong = sha256("something else".getBytes(StandardCharsets.UTF_8));
        DownloadException e = assertThrows(DownloadException.class,
                () -> Downloads.fetch(url("/file.bin"), target, wrong));
        assertTrue(e.getMessage().contains(url("/file.bin").toString()), e.getMessage());
        assertTrue(e.getMessage().contains(wrong), e.getMessage());
        assertTrue(e.getMessage().contains(sha256(BODY)), e.getMessage());
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        assertOnly();
    }

    @Test
    void anHttpErrorSaysWhereToPutTheFile() {
        Path target = dir.resolve("missing.bin");
        DownloadException e = assertThrows(DownloadException.class,
                () -> Downloads.fetch(url("/missing.bin"), target, sha256(BODY)));
        assertTrue(e.getMessage().contains("HTTP status 404"), e.getMessage());
        assertTrue(e.getMessage().contains("put the file at " + target), e.getMessage());
        assertEquals(target, e.target());
        assertOnly();
    }

    @Test
    void aStalledBodyIsAbandoned() {
        Path target = dir.resolve("stalled.bin");
        DownloadException e = assertThrows(DownloadException.class,
                () -> Downloads.fetch(url("/stalled.bin"), target, sha256(BODY), Duration.ofSeconds(1)));
        assertTrue(e.getMessage().contains("no data for 1 s"), e.getMessage());
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        assertOnly();
    }

    @Test
    void aTruncatedBodyIsNotKept() throws Exception {
        // A raw socket: the response announces the whole length, sends half and closes the connection.
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread peer = Thread.ofPlatform().daemon().start(() -> {
                try (Socket s = socket.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                            StandardCharsets.ISO_8859_1));
                    while (!in.readLine().isEmpty()) {
                        // request headers
                    }
                    OutputStream out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + BODY.length + "\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
                    out.write(BODY, 0, BODY.length / 2);
                    out.flush();
                    // end the stream with a FIN, then wait for the client to hang up: closing at once, with the
                    // client's bytes unread, sends a reset that can discard data still in flight
                    s.shutdownOutput();
                    while (s.getInputStream().read() >= 0) {
                        // until the client closes
                    }
                } catch (IOException ignored) {
                    // the client's view is what is tested
                }
            });
            Path target = dir.resolve("truncated.bin");
            DownloadException e = assertThrows(DownloadException.class, () -> Downloads.fetch(
                    URI.create("http://127.0.0.1:" + socket.getLocalPort() + "/truncated.bin"), target, sha256(BODY),
                    Duration.ofSeconds(20)));
            assertTrue(e.getMessage().contains("failed"), e.getMessage());
            assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("after " + BODY.length / 2 + " of " + BODY.length), e.getMessage());
            assertOnly();
            peer.join();
        }
    }

    @Test
    void noServerIsAClearError() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        Path target = dir.resolve("file.bin");
        DownloadException e = assertThrows(DownloadException.class, () -> Downloads.fetch(
                URI.create("http://127.0.0.1:" + port + "/file.bin"), target, sha256(BODY)));
        assertTrue(e.getMessage().contains("cannot connect"), e.getMessage());
        assertTrue(e.getMessage().contains(target.toString()), e.getMessage());
        assertOnly();
    }

    @Test
    void refusesBadArguments() {
        Path target = dir.resolve("file.bin");
        assertThrows(IllegalArgumentException.class,
                () -> Downloads.fetch(URI.create("http://example.com/x"), target, sha256(BODY)));
        assertThrows(IllegalArgumentException.class,
                () -> Downloads.fetch(URI.create("ftp://127.0.0.1/x"), target, sha256(BODY)));
        assertThrows(IllegalArgumentException.class, () -> Downloads.fetch(url("/file.bin"), target, "md5:00"));
        assertThrows(IllegalArgumentException.class, () -> Downloads.fetch(url("/file.bin"), target, "sha256:zz"));
        assertThrows(IllegalArgumentException.class, () -> Downloads.fetch(url("/file.bin"), null, sha256(BODY)));
        assertEquals(0, requests.get());
    }

    @Test
    void digestForms() {
        byte[] sha512 = digest("SHA-512", BODY);
        Digest fromIntegrity = Digest.parse("sha512-" + Base64.getEncoder().encodeToString(sha512));
        Digest fromHex = Digest.parse("sha512:" + HexFormat.of().formatHex(sha512));
        assertEquals(fromIntegrity, fromHex);
        assertEquals("sha512:" + Base64.getEncoder().encodeToString(sha512), fromHex.toString());
        assertEquals(Digest.parse(sha256(BODY)), Digest.parse(sha256(BODY).toUpperCase().replace("SHA256", "sha256")));
    }

    /** The directory holds exactly these files: no temp file is left behind. */
    private void assertOnly(Path... files) {
        try (Stream<Path> all = Files.walk(dir)) {
            long regular = all.filter(Files::isRegularFile).count();
            assertEquals(files.length, regular, "files left in " + dir);
            for (Path f : files) {
                assertTrue(Files.isRegularFile(f));
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        assertFalse(Files.exists(dir.resolve("file.bin.part")));
    }

    private static byte[] body() {
        byte[] b = new byte[300_000];
        new Random(7).nextBytes(b);
        return b;
    }

    private static String sha256(byte[] b) {
        return "sha256:" + hex("SHA-256", b);
    }

    private static String sha512Integrity(byte[] b) {
        return "sha512-" + Base64.getEncoder().encodeToString(digest("SHA-512", b));
    }

    private static String hex(String algorithm, byte[] b) {
        return HexFormat.of().formatHex(digest(algorithm, b));
    }

    private static byte[] digest(String algorithm, byte[] b) {
        try {
            return MessageDigest.getInstance(algorithm).digest(b);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
