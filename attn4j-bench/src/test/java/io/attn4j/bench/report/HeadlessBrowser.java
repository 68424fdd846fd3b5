package io.attn4j.bench.report;

import io.attn4j.util.FileTrees;
import io.attn4j.util.Json;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Headless Chromium for end-to-end tests of HTML reports, driven through the Chrome DevTools Protocol over the JDK's
 * own {@link java.net.http.WebSocket} (no WebDriver, no dependency). {@link #launch()} starts one browser with a
 * fresh profile and {@code --remote-debugging-port=0}, reads the endpoint that Chromium prints on stderr and connects;
 * {@link #open(Path)} loads a file into a new tab of {@link #WIDTH} × {@link #HEIGHT} CSS pixels and returns a
 * {@link Page} once it has loaded: its console errors, its DOM after the scripts ran, a screenshot, and live
 * {@code evaluate}. {@link #close()} ends the whole process tree and deletes the profile.
 *
 * <p>Everything is bounded: the launch, each protocol command, the page load and the shutdown have timeouts, so a
 * browser that hangs fails the test with a message instead of hanging the build.
 *
 * <p>Tests get a browser from {@link #launchForTests()}: without Chromium they are skipped, or fail with what to
 * install when {@code -Dattn4j.requireBrowser=true} (CI sets it).
 */
public final class HeadlessBrowser implements AutoCloseable {
    /** The viewport of every page, in CSS pixels (device scale factor 1: screenshots are this size). */
    public static final int WIDTH = 1280;
    public static final int HEIGHT = 900;
    /** The system property that turns a missing browser from a skip into a failure. */
    public static final String REQUIRE_PROPERTY = "attn4j.requireBrowser";
    /** The environment variable naming a Chrome or Chromium binary, looked at first. */
    public static final String EXECUTABLE_ENV = "ATTN4J_CHROMIUM";
    static final String INSTALL_HINT = "install it (Debian/Ubuntu: `sudo apt-get install chromium`) or set "
            + EXECUTABLE_ENV + " to a Chrome or Chromium binary";

    static final Duration LAUNCH_TIMEOUT = Duration.ofSeconds(30);
    static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(15);
    static final int LOAD_TIMEOUT_SECONDS = 20;
    static final Duration LOAD_TIMEOUT = Duration.ofSeconds(LOAD_TIMEOUT_SECONDS);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(5);
    private static final Pattern ENDPOINT = Pattern.compile("DevTools listening on (ws://\\S+)");
    private static final int STDERR_LINES_KEPT = 40;

    private final Path executable;
    private final Process process;
    private final Path profile;
    private final Deque<String> stderrTail = new ArrayDeque<>();
    private final Thread shutdownHook;
    private final List<Page> pages = new ArrayList<>();
    private DevTools devTools;
    private volatile boolean closed;

    /** Where Chromium is: {@code $ATTN4J_CHROMIUM}, then {@code /usr/bin/chromium}, then the usual names on the PATH. */
    public static Optional<Path> find() {
        String configured = System.getenv(EXECUTABLE_ENV);
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured);
            if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
                throw new BrowserException(EXECUTABLE_ENV + "=" + configured + " is not an executable file");
            }
            return Optional.of(p);
        }
        List<Path> candidates = new ArrayList<>();
        candidates.add(Path.of("/usr/bin/chromium"));
        String path = System.getenv("PATH");
        for (String name : List.of("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")) {
            for (String dir : path == null ? new String[0] : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, name));
                }
            }
        }
        return candidates.stream().filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst();
    }

    /**
     * A browser for a test. Without Chromium the test is skipped, or fails saying what to install when the system
     * property {@value #REQUIRE_PROPERTY} is {@code true}. A Chromium that is there but does not start always fails.
     */
    public static HeadlessBrowser launchForTests() {
        return launchForTests(find(), Boolean.getBoolean(REQUIRE_PROPERTY));
    }

    static HeadlessBrowser launchForTests(Optional<Path> found, boolean required) {
        if (found.isEmpty()) {
            String missing = "Chromium not found (looked at $" + EXECUTABLE_ENV + ", /usr/bin/chromium and chromium, "
                    + "chromium-browser, google-chrome on the PATH): " + INSTALL_HINT;
            if (required) {
                Assertions.fail(missing + ". The browser tests are required here (-D" + REQUIRE_PROPERTY + "=true).");
            }
            Assumptions.abort(missing + ". Browser tests skipped; -D" + REQUIRE_PROPERTY
                    + "=true makes this a failure.");
        }
        return launch(found.get());
    }

    /** Starts the Chromium that {@link #find()} finds. */
    public static HeadlessBrowser launch() {
        return launch(find().orElseThrow(() -> new BrowserException("Chromium not found: " + INSTALL_HINT)));
    }

    /** Starts {@code executable} headless, with a fresh profile, and connects to it. */
    public static HeadlessBrowser launch(Path executable) {
        return new HeadlessBrowser(executable);
    }

    private HeadlessBrowser(Path executable) {
        this.executable = executable;
        try {
            this.profile = Files.createTempDirectory("attn4j-chromium-");
        } catch (IOException e) {
            throw new BrowserException("cannot create a profile directory: " + e, e);
        }
        List<String> command = new ArrayList<>(List.of(
                executable.toString(),
                "--headless",
                "--remote-debugging-port=0",
                "--user-data-dir=" + profile,
                "--window-size=" + WIDTH + "," + HEIGHT,
                "--hide-scrollbars",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--mute-audio",
                // pages in other tabs, or not yet painted, must not have their timers and frames throttled
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows"));
        if (runningAsRoot()) {
            command.add("--no-sandbox"); // Chromium refuses to start its sandbox as root
        }
        command.add("about:blank");
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        try {
            this.process = builder.start();
        } catch (IOException e) {
            deleteProfile();
            throw new BrowserException("cannot start " + executable + ": " + e, e);
        }
        this.shutdownHook = new Thread(() -> kill(processes(), Duration.ZERO), "attn4j-chromium-killer");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        try {
            URI endpoint = URI.create(awaitEndpoint());
            this.devTools = DevTools.connect(endpoint, LAUNCH_TIMEOUT);
            process.onExit().thenRun(() -> devTools.fail("Chromium exited with code " + process.exitValue()
                    + stderrSummary()));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Reads stderr for the DevTools endpoint, keeping the last lines for messages; stderr is drained until it ends. */
    private String awaitEndpoint() {
        CompletableFuture<String> endpoint = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    synchronized (stderrTail) {
                        stderrTail.addLast(line);
                        if (stderrTail.size() > STDERR_LINES_KEPT) {
                            stderrTail.removeFirst();
                        }
                    }
                    Matcher m = ENDPOINT.matcher(line);
                    if (m.find()) {
                        endpoint.complete(m.group(1));
                    }
                }
            } catch (IOException e) {
                // the stream closes when the process is killed
            }
            endpoint.completeExceptionally(new BrowserException("Chromium's stderr ended without a DevTools endpoint"));
        }, "attn4j-chromium-stderr");
        reader.setDaemon(true);
        reader.start();
        process.onExit().thenRun(() -> endpoint.completeExceptionally(new BrowserException("exited")));
        try {
            return endpoint.get(LAUNCH_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new BrowserException(executable + " printed no DevTools endpoint within "
                    + DevTools.seconds(LAUNCH_TIMEOUT) + stderrSummary(), e);
        } catch (ExecutionException e) {
            String exit = process.isAlive() ? "" : " (exit code " + process.exitValue() + ")";
            throw new BrowserException(executable + " did not start" + exit + stderrSummary(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BrowserException("interrupted while starting " + executable, e);
        }
    }

    /**
     * Loads {@code html} (a {@code file://} URL) in a new tab and waits up to {@value #LOAD_TIMEOUT_SECONDS} s for its
     * load event, then two animation frames, so that scripts run at load and the first paint have happened.
     */
    public Page open(Path html) {
        return open(html, LOAD_TIMEOUT);
    }

    /** {@link #open(Path)} with another load timeout. */
    public synchronized Page open(Path html, Duration loadTimeout) {
        if (closed) {
            throw new IllegalStateException("the browser is closed");
        }
        Map<String, Object> create = Json.object();
        create.put("url", "about:blank");
        String targetId = (String) devTools.call("Target.createTarget", create, COMMAND_TIMEOUT).get("targetId");
        Map<String, Object> attach = Json.object();
        attach.put("targetId", targetId);
        attach.put("flatten", true);
        String sessionId;
        try {
            sessionId = (String) devTools.call("Target.attachToTarget", attach, COMMAND_TIMEOUT).get("sessionId");
        } catch (RuntimeException e) {
            closeTarget(targetId);
            throw e;
        }
        Page page = new Page(this, devTools, targetId, sessionId);
        pages.add(page);
        try {
            page.load(html.toAbsolutePath().toUri(), loadTimeout);
        } catch (RuntimeException e) {
            page.close();
            throw e;
        }
        return page;
    }

    synchronized void closed(Page page) {
        pages.remove(page);
    }

    /** Closes a tab; a tab whose renderer hangs is closed by the browser all the same. */
    void closeTarget(String targetId) {
        if (closed) {
            return;
        }
        Map<String, Object> params = Json.object();
        params.put("targetId", targetId);
        try {
            devTools.call("Target.closeTarget", params, COMMAND_TIMEOUT);
        } catch (BrowserException e) {
            // the browser is gone or stuck; close() kills it
        }
    }

    /** The browser's process and all its descendants now (renderers, GPU and utility processes, ...). */
    public List<ProcessHandle> processes() {
        return Stream.concat(Stream.of(process.toHandle()), process.descendants()).toList();
    }

    /** The temporary profile directory ({@code --user-data-dir}), deleted by {@link #close()}. */
    public Path profile() {
        return profile;
    }

    /** The last lines Chromium wrote on stderr, for diagnostics. */
    public List<String> stderrTail() {
        synchronized (stderrTail) {
            return List.copyOf(stderrTail);
        }
    }

    private String stderrSummary() {
        List<String> tail = stderrTail();
        return tail.isEmpty() ? "" : "; its stderr ended with:\n  " + String.join("\n  ", tail);
    }

    /**
     * Ends the browser: asks it to close, then kills what is left of the process tree (within a few seconds in all
     * cases), and deletes the profile. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Page page : List.copyOf(pages)) {
            page.close(); // no Target.closeTarget once closed: Browser.close below ends every tab, even a stuck one
        }
        // the tree before Chromium starts to exit: an exiting parent's children are no longer its descendants
        List<ProcessHandle> tree = process == null ? List.of() : processes();
        if (devTools != null) {
            try {
                devTools.call("Browser.close", null, Duration.ofSeconds(2));
            } catch (BrowserException e) {
                // killed below
            }
            devTools.close();
        }
        try {
            kill(tree, Duration.ofSeconds(2));
        } finally {
            deleteProfile();
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down and runs the hook anyway
            }
        }
    }

    /**
     * Gives the browser process {@code grace} to exit by itself (after Browser.close), then kills every process of
     * the tree still there: helpers such as the zygotes otherwise linger for seconds after the browser, and nothing
     * in a throw-away profile needs a clean shutdown.
     */
    private static void kill(List<ProcessHandle> tree, Duration grace) {
        if (tree.isEmpty()) {
            return;
        }
        awaitExit(tree.subList(0, 1), grace);
        tree.stream().filter(HeadlessBrowser::running).forEach(ProcessHandle::destroyForcibly);
        awaitExit(tree, EXIT_TIMEOUT);
    }

    /** Polls until no process of {@code tree} is {@linkplain #running running}, or {@code timeout}. */
    private static boolean awaitExit(List<ProcessHandle> tree, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (tree.stream().anyMatch(HeadlessBrowser::running)) {
            if (System.nanoTime() - deadline > 0) {
                return false;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /**
     * Whether a process still runs. A zombie does not: it has exited and only waits for its parent to collect its
     * status, and the browser's helpers, orphaned when it exits, wait for the init process, which may take its time
     * (over a second on some machines), while {@link ProcessHandle#isAlive()} counts them until then.
     */
    static boolean running(ProcessHandle p) {
        if (!p.isAlive()) {
            return false;
        }
        try {
            // /proc/<pid>/stat: "pid (command) state ...", and the command may itself hold parentheses
            String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
            int end = stat.lastIndexOf(')');
            char state = end >= 0 && end + 2 < stat.length() ? stat.charAt(end + 2) : '?';
            return state != 'Z' && state != 'X';
        } catch (IOException | RuntimeException e) {
            return p.isAlive(); // not Linux, or the process is gone
        }
    }

    private void deleteProfile() {
        // Chromium's last writes can race the first attempt; a few tries, then the temp directory is left behind.
        for (int attempt = 0; attempt < 5; attempt++) {
            try {
                FileTrees.delete(profile);
                return;
            } catch (IOException e) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private static boolean runningAsRoot() {
        try {
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    /** The browser failed, timed out or could not be started; the message says which and what it last said. */
    public static final class BrowserException extends RuntimeException {
        public BrowserException(String message) {
            super(message);
        }

        public BrowserException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
