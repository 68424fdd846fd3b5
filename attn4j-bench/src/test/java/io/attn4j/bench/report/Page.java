package io.attn4j.bench.report;

import io.attn4j.util.Json;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static io.attn4j.bench.report.HeadlessBrowser.BrowserException;
import static io.attn4j.bench.report.HeadlessBrowser.COMMAND_TIMEOUT;

/**
 * A page loaded by {@link HeadlessBrowser#open}: the console errors it reported (collected from before navigation on,
 * and still collected while the page stays open), its DOM and a PNG screenshot as they were once it had loaded and
 * painted, and {@link #evaluate} to query it further. Close it to close its tab (closing the browser does too).
 */
public final class Page implements AutoCloseable {
    /** A page showing more distinct colours than this is not blank (anti-aliased text or shapes give dozens). */
    static final int BLANK_MAX_COLOURS = 5;
    /** ... nor is one where no colour covers more than this share of the pixels. */
    static final double BLANK_MIN_SHARE = 0.99;

    private static final String AFTER_TWO_FRAMES =
            "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))";

    private final HeadlessBrowser browser;
    private final DevTools devTools;
    private final String targetId;
    private final String sessionId;
    private final List<String> errors = new CopyOnWriteArrayList<>();
    /** Completed when the load lifecycle event of a navigation (a loader id) arrives; it can precede the answer. */
    private final Map<String, CompletableFuture<Void>> loads = new ConcurrentHashMap<>();
    private volatile boolean closed;
    private URI url;
    private String dom;
    private byte[] screenshot;
    private Duration openTime;

    Page(HeadlessBrowser browser, DevTools devTools, String targetId, String sessionId) {
        this.browser = browser;
        this.devTools = devTools;
        this.targetId = targetId;
        this.sessionId = sessionId;
        devTools.listen(sessionId, this::event);
    }

    /** Navigates to {@code url} and waits for its load event and two frames, then takes the DOM and a screenshot. */
    void load(URI url, Duration loadTimeout) {
        long start = System.nanoTime();
        this.url = url;
        call("Page.enable", null);
        Map<String, Object> lifecycle = Json.object();
        lifecycle.put("enabled", true);
        call("Page.setLifecycleEventsEnabled", lifecycle);
        call("Runtime.enable", null);
        call("Log.enable", null);
        Map<String, Object> metrics = Json.object();
        metrics.put("width", HeadlessBrowser.WIDTH);
        metrics.put("height", HeadlessBrowser.HEIGHT);
        metrics.put("deviceScaleFactor", 1);
        metrics.put("mobile", false);
        call("Emulation.setDeviceMetricsOverride", metrics);

        long deadline = System.nanoTime() + loadTimeout.toNanos();
        Map<String, Object> navigate = Json.object();
        navigate.put("url", url.toString());
        Map<String, Object> navigated;
        try {
            navigated = devTools.call(sessionId, "Page.navigate", navigate, loadTimeout);
        } catch (BrowserException e) {
            if (e.getCause() instanceof TimeoutException) {
                throw notLoaded(loadTimeout, e);
            }
            throw e;
        }
        if (navigated.get("errorText") instanceof String error && !error.isEmpty()) {
            throw new BrowserException("cannot load " + url + ": " + error);
        }
        String loaderId = (String) navigated.get("loaderId");
        try {
            loadOf(loaderId).get(Math.max(deadline - System.nanoTime(), 0), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw notLoaded(loadTimeout, e);
        } catch (ExecutionException e) {
            throw new BrowserException("loading " + url + " failed: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BrowserException("interrupted while loading " + url, e);
        }
        evaluate(AFTER_TWO_FRAMES);
        dom = (String) evaluate("document.documentElement.outerHTML");
        Map<String, Object> capture = Json.object();
        capture.put("format", "png");
        screenshot = Base64.getDecoder().decode((String) call("Page.captureScreenshot", capture).get("data"));
        openTime = Duration.ofNanos(System.nanoTime() - start);
    }

    private BrowserException notLoaded(Duration timeout, Exception cause) {
        return new BrowserException("page " + url + " did not finish loading within " + DevTools.seconds(timeout)
                + ": its load event never fired (a script that does not return, or a resource that never loads)"
                + (errors.isEmpty() ? "" : "; console errors so far: " + errors), cause);
    }

    private CompletableFuture<Void> loadOf(String loaderId) {
        return loads.computeIfAbsent(loaderId, id -> new CompletableFuture<>());
    }

    /** The file's URL. */
    public URI url() {
        return url;
    }

    /**
     * Uncaught exceptions ("Uncaught Error: boom at page.html:12:5"), {@code console.error} and failed
     * {@code console.assert} calls ("console.error: the arguments at page.html:3:9"), and the browser's own errors
     * (a resource that failed to load, ...: "network: ..."), in the order they happened.
     */
    public List<String> consoleErrors() {
        return List.copyOf(errors);
    }

    /** {@code document.documentElement.outerHTML} once the page had loaded and painted. */
    public String dom() {
        return dom;
    }

    /** A PNG of the viewport ({@link HeadlessBrowser#WIDTH} × {@link HeadlessBrowser#HEIGHT}) once it had painted. */
    public byte[] screenshotPng() {
        return screenshot.clone();
    }

    /** How long {@link HeadlessBrowser#open} took for this page: new tab, load, two frames, DOM and screenshot. */
    public Duration openTime() {
        return openTime;
    }

    /**
     * Evaluates a JavaScript expression in the page (a promise is awaited) and returns its value as JSON decodes it:
     * {@code Map}, {@code List}, {@code String}, {@code Double}, {@code Boolean} or {@code null} (also for
     * {@code undefined}); {@code NaN} and infinities as {@code Double}, a BigInt as {@code BigInteger}.
     *
     * @throws BrowserException the expression threw (the message has the exception), or no answer in time
     */
    public Object evaluate(String js) {
        if (closed) {
            throw new IllegalStateException("the page is closed");
        }
        Map<String, Object> params = Json.object();
        params.put("expression", js);
        params.put("returnByValue", true);
        params.put("awaitPromise", true);
        Map<String, Object> answer = call("Runtime.evaluate", params);
        if (answer.get("exceptionDetails") instanceof Map<?, ?> details) {
            throw new BrowserException("the script threw " + exception(details) + ": " + js);
        }
        if (!(answer.get("result") instanceof Map<?, ?> result)) {
            return null;
        }
        if (result.get("unserializableValue") instanceof String special) {
            return switch (special) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                case "-0" -> -0.0;
                default -> special.endsWith("n")
                        ? new BigInteger(special.substring(0, special.length() - 1)) : special;
            };
        }
        return result.get("value");
    }

    /** How many elements match a CSS selector ({@code document.querySelectorAll}). */
    public int count(String cssSelector) {
        return ((Number) evaluate("document.querySelectorAll(" + Json.quote(cssSelector) + ").length")).intValue();
    }

    /**
     * Whether a PNG shows something: more than {@value #BLANK_MAX_COLOURS} distinct colours, and no colour covering
     * more than 99 % of the pixels. A white page, or one flat colour with a few specks, is blank.
     */
    public static boolean nonBlank(byte[] png) {
        BufferedImage image;
        try {
            image = ImageIO.read(new ByteArrayInputStream(png));
        } catch (IOException e) {
            throw new UncheckedIOException("not a readable image", e);
        }
        if (image == null) {
            throw new IllegalArgumentException("not a PNG (ImageIO found no reader for it)");
        }
        int[] pixels = image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
        if (pixels.length == 0) {
            return false;
        }
        Arrays.sort(pixels);
        int distinct = 0;
        int longest = 0;
        for (int i = 0; i < pixels.length; ) {
            int j = i;
            while (j < pixels.length && pixels[j] == pixels[i]) {
                j++;
            }
            distinct++;
            longest = Math.max(longest, j - i);
            i = j;
        }
        return distinct > BLANK_MAX_COLOURS && longest <= BLANK_MIN_SHARE * pixels.length;
    }

    /** Closes the tab. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        devTools.forget(sessionId);
        loads.values().forEach(load -> load.cancel(false));
        browser.closeTarget(targetId);
        browser.closed(this);
    }

    private Map<String, Object> call(String method, Map<String, Object> params) {
        return devTools.call(sessionId, method, params, COMMAND_TIMEOUT);
    }

    /** On the socket's thread: records errors and load events; nothing here blocks. */
    private void event(String method, Map<String, Object> params) {
        switch (method) {
            case "Page.lifecycleEvent" -> {
                if ("load".equals(params.get("name")) && params.get("loaderId") instanceof String loader) {
                    loadOf(loader).complete(null);
                }
            }
            case "Runtime.consoleAPICalled" -> {
                Object type = params.get("type");
                if ("error".equals(type) || "assert".equals(type)) {
                    List<String> parts = new ArrayList<>();
                    if (params.get("args") instanceof List<?> args) {
                        for (Object arg : args) {
                            parts.add(arg instanceof Map<?, ?> remote ? text(remote) : String.valueOf(arg));
                        }
                    }
                    String where = "";
                    if (params.get("stackTrace") instanceof Map<?, ?> stack
                            && stack.get("callFrames") instanceof List<?> frames && !frames.isEmpty()
                            && frames.getFirst() instanceof Map<?, ?> top) {
                        where = at(top.get("url"), top.get("lineNumber"), top.get("columnNumber"));
                    }
                    errors.add("console." + type + ": " + String.join(" ", parts) + where);
                }
            }
            case "Runtime.exceptionThrown" -> {
                if (params.get("exceptionDetails") instanceof Map<?, ?> details) {
                    errors.add(exception(details)
                            + at(details.get("url"), details.get("lineNumber"), details.get("columnNumber")));
                }
            }
            case "Log.entryAdded" -> {
                if (params.get("entry") instanceof Map<?, ?> entry && "error".equals(entry.get("level"))) {
                    Object where = entry.get("url");
                    errors.add(entry.get("source") + ": " + entry.get("text")
                            + (where instanceof String u && !u.isEmpty() ? " (" + u + ")" : ""));
                }
            }
            case "Inspector.targetCrashed" -> {
                errors.add("the page crashed");
                loads.values().forEach(load -> load.completeExceptionally(new BrowserException("the page crashed")));
            }
            default -> {
            }
        }
    }

    /** "Uncaught Error: boom": the exception's text and the first line of its description (the rest is the stack). */
    private static String exception(Map<?, ?> details) {
        String text = String.valueOf(details.get("text"));
        if (details.get("exception") instanceof Map<?, ?> thrown) {
            String what = text(thrown).lines().findFirst().orElse("");
            if (!what.isEmpty() && !text.contains(what)) {
                text = text + " " + what;
            }
        }
        return text;
    }

    /** A console argument or thrown value (a Runtime.RemoteObject) as console.log would print it, roughly. */
    private static String text(Map<?, ?> remote) {
        if ("string".equals(remote.get("type")) && remote.get("value") instanceof String s) {
            return s;
        }
        if (remote.get("unserializableValue") instanceof String special) {
            return special;
        }
        Object subtype = remote.get("subtype");
        if ((subtype == null || "array".equals(subtype)) && remote.get("preview") instanceof Map<?, ?> preview
                && preview.get("properties") instanceof List<?> props) {
            boolean array = "array".equals(subtype);
            List<String> shown = new ArrayList<>();
            for (Object p : props) {
                if (p instanceof Map<?, ?> prop) {
                    Object value = "string".equals(prop.get("type")) ? Json.quote(String.valueOf(prop.get("value")))
                            : prop.get("value");
                    shown.add(array ? String.valueOf(value) : prop.get("name") + ": " + value);
                }
            }
            if (Boolean.TRUE.equals(preview.get("overflow"))) {
                shown.add("…");
            }
            String inside = String.join(", ", shown);
            return array ? "[" + inside + "]" : "{" + inside + "}";
        }
        if (remote.get("description") instanceof String description) {
            // an Error's description goes on with its stack
            return "error".equals(subtype) ? description.lines().findFirst().orElse("") : description;
        }
        if (remote.containsKey("value")) {
            Object value = remote.get("value");
            return value instanceof Double d && d == Math.rint(d) && Math.abs(d) < 1e15
                    ? Long.toString(d.longValue()) : String.valueOf(value);
        }
        return String.valueOf(remote.get("type"));
    }

    /** " at page.html:12:5" from a 0-based line and column, or "" without a URL. */
    private static String at(Object url, Object line, Object column) {
        if (!(url instanceof String u) || u.isEmpty()) {
            return "";
        }
        String file = u.substring(u.lastIndexOf('/') + 1);
        return " at " + file + (line instanceof Number l ? ":" + (l.intValue() + 1) : "")
                + (column instanceof Number c ? ":" + (c.intValue() + 1) : "");
    }
}
