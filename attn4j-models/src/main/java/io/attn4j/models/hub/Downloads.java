package io.attn4j.models.hub;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fetches a file once, verifies its digest and keeps it: the only way attn4j touches the network.
 *
 * <p>{@link #fetch} returns the target at once when it already exists with the expected digest (no request is
 * made, so a file put there by hand works offline). Otherwise it downloads with {@link HttpClient} (redirects
 * followed except from HTTPS to HTTP; connect and response timeouts of {@value #TIMEOUT_SECONDS} s; a body that
 * stalls for {@value #TIMEOUT_SECONDS} s is abandoned) into a temp file beside the target, checks the byte count
 * against {@code Content-Length} and the digest against the expected one, and only then moves the temp file into
 * place atomically, so a target that exists is always complete. Any failure deletes the temp file and throws a
 * {@link DownloadException} naming the URL and the target path where the file can be put by hand.
 *
 * <p>URLs must be HTTPS; plain HTTP is accepted only for loopback hosts (local mirrors and tests). A progress line
 * goes to stderr for every tenth of a body over {@value #PROGRESS_BYTES} bytes.
 */
public final class Downloads {
    /** Connect, response-header and body-stall timeout. */
    public static final int TIMEOUT_SECONDS = 60;
    /** Bodies at least this large report progress on stderr. */
    public static final long PROGRESS_BYTES = 16L << 20;

    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "attn4j-download-watchdog");
        t.setDaemon(true);
        return t;
    });

    private Downloads() {
    }

    /**
     * The verified file at {@code target}, downloaded from {@code url} unless it is already there.
     *
     * @param url            an {@code https} URL (or {@code http} to a loopback host)
     * @param target         where the file is kept; its parent directory is created if missing
     * @param expectedDigest the file's digest as {@link Digest#parse} reads it ({@code sha256:<hex>},
     *                       {@code sha512-<base64>}, ...)
     * @return {@code target}
     * @throws IllegalArgumentException if an argument is null, the URL's scheme is not allowed or the digest is
     *                                  malformed
     * @throws DownloadException        if the download fails or its digest differs from {@code expectedDigest}
     * @throws IOException              if the target directory cannot be written
     */
    public static Path fetch(URI url, Path target, String expectedDigest) throws IOException {
        return fetch(url, target, expectedDigest, Duration.ofSeconds(TIMEOUT_SECONDS));
    }

    /** {@link #fetch(URI, Path, String)} with another timeout (tests use short ones). */
    static Path fetch(URI url, Path target, String expectedDigest, Duration timeout) throws IOException {
        checkUrl(url);
        if (target == null) {
            throw new IllegalArgumentException("target = null; allowed: a file path");
        }
        Digest expected = Digest.parse(expectedDigest);
        if (Files.isRegularFile(target) && expected.matches(expected.of(target))) {
            return target;
        }
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path temp = Files.createTempFile(dir, target.getFileName() + ".", ".part");
        try {
            Digest actual = download(url, target, temp, expected, timeout);
            if (!expected.matches(actual)) {
                throw new DownloadException(url, target, "download of " + url + " has digest " + actual
                        + " but " + expected + " was expected; the file was discarded (to use a copy of your own,"
                        + " put it at " + target + ")", null);
            }
            move(temp, target);
            return target;
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * A small text resource (a checksum file), read whole; nothing is kept on disk.
     *
     * @param url      an {@code https} URL (or {@code http} to a loopback host)
     * @param maxBytes the largest body accepted
     * @throws DownloadException if the request fails, the status is not 200 or the body is longer than maxBytes
     */
    public static String text(URI url, int maxBytes) throws IOException {
        checkUrl(url);
        Duration timeout = Duration.ofSeconds(TIMEOUT_SECONDS);
        HttpRequest request = HttpRequest.newBuilder(url).timeout(timeout)
                .header("User-Agent", "attn4j").GET().build();
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NORMAL).build()) {
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = response.body()) {
                if (response.statusCode() != 200) {
                    throw new DownloadException(url, null, "GET " + url + ": HTTP status " + response.statusCode(),
                            null);
                }
                byte[] bytes = body.readNBytes(maxBytes + 1);
                if (bytes.length > maxBytes) {
                    throw new DownloadException(url, null, "GET " + url + ": body longer than " + maxBytes
                            + " bytes", null);
                }
                return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
            }
        } catch (DownloadException e) {
            throw e;
        } catch (IOException e) {
            throw new DownloadException(url, null, "GET " + url + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DownloadException(url, null, "GET " + url + " interrupted", e);
        }
    }

    /** Streams the body into {@code temp} and returns its digest. */
    private static Digest download(URI url, Path target, Path temp, Digest expected, Duration timeout)
            throws IOException {
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        HttpRequest request = HttpRequest.newBuilder(url).timeout(timeout)
                .header("User-Agent", "attn4j").GET().build();
        AtomicLong lastProgress = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        MessageDigest md = expected.newMessageDigest();
        long received = 0;
        long length = -1;
        try (client) {
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream body = response.body(); OutputStream out = Files.newOutputStream(temp)) {
                if (response.statusCode() != 200) {
                    throw failure(url, target, "HTTP status " + response.statusCode(), null);
                }
                length = response.headers().firstValueAsLong("Content-Length").orElse(-1);
                boolean progress = length >= PROGRESS_BYTES;
                if (progress) {
                    System.err.printf(Locale.ROOT, "attn4j: downloading %s (%d MB) to %s%n", url, length >> 20, target);
                }
                ScheduledFuture<?> watchdog = WATCHDOG.scheduleWithFixedDelay(() -> {
                    if (System.nanoTime() - lastProgress.get() > timeout.toNanos()) {
                        stalled.set(true);
                        try {
                            body.close();
                        } catch (IOException ignored) {
                            // the reading thread reports the stall
                        }
                    }
                }, 100, 100, TimeUnit.MILLISECONDS);
                try {
                    byte[] buffer = new byte[1 << 16];
                    int reportedTenth = 0;
                    for (int n; (n = body.read(buffer)) >= 0; ) {
                        out.write(buffer, 0, n);
                        md.update(buffer, 0, n);
                        received += n;
                        lastProgress.set(System.nanoTime());
                        if (progress && received * 10 / length > reportedTenth && received < length) {
                            reportedTenth = (int) (received * 10 / length);
                            System.err.printf(Locale.ROOT, "attn4j: %s: %d of %d MB%n", target.getFileName(),
                                    received >> 20, length >> 20);
                        }
                    }
                } finally {
                    watchdog.cancel(false);
                }
            }
        } catch (DownloadException e) {
            throw e;
        } catch (IOException e) {
            String what = stalled.get() ? "no data for " + timeout.toSeconds() + " s after " + received + " bytes"
                    : e instanceof java.net.ConnectException || e.getCause() instanceof UnknownHostException
                    || e instanceof java.net.http.HttpConnectTimeoutException
                    ? "cannot connect (" + e + "); no network?"
                    : "transfer failed after " + received + (length >= 0 ? " of " + length : "") + " bytes (" + e + ")";
            throw failure(url, target, what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw failure(url, target, "interrupted", e);
        }
        if (stalled.get()) {
            throw failure(url, target, "no data for " + timeout.toSeconds() + " s after " + received + " bytes", null);
        }
        if (length >= 0 && received != length) {
            throw failure(url, target, "body cut short: " + received + " of " + length + " bytes", null);
        }
        return new Digest(expected.algorithm(), md.digest());
    }

    private static DownloadException failure(URI url, Path target, String what, Throwable cause) {
        return new DownloadException(url, target, "download of " + url + " failed: " + what
                + "; to do without the network, put the file at " + target, cause);
    }

    private static void move(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void checkUrl(URI url) {
        if (url == null) {
            throw new IllegalArgumentException("url = null; allowed: an https URL");
        }
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (scheme.equals("https") && url.getHost() != null) {
            return;
        }
        if (scheme.equals("http") && url.getHost() != null && isLoopback(url.getHost())) {
            return;
        }
        throw new IllegalArgumentException("url = " + url + "; allowed: https, or http to a loopback host");
    }

    private static boolean isLoopback(String host) {
        if (host.equalsIgnoreCase("localhost")) {
            return true;
        }
        // Only literal addresses are resolved here, so no name lookup happens.
        if (!host.matches("[0-9.]+|\\[[0-9a-fA-F:.]+\\]")) {
            return false;
        }
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
