package io.attn4j.bench.report;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static io.attn4j.bench.report.HeadlessBrowser.BrowserException;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The headless browser on small pages written here: a chart page loads cleanly and is counted and seen, errors are
 * reported with their text, a blank page looks blank, a page that never loads fails in bounded time, and closing
 * leaves no process behind. Skipped without Chromium unless -Dattn4j.requireBrowser=true.
 */
@Timeout(120)
class HeadlessBrowserTest {
    @TempDir
    static Path dir;
    private static HeadlessBrowser shared;
    private static RuntimeException launchFailure;

    /**
     * One browser for the tests of this class, started by the first: each test without Chromium is then reported as
     * skipped with the reason (a skip in {@code @BeforeAll} would show as zero tests run, silently).
     */
    private static synchronized HeadlessBrowser browser() {
        if (launchFailure != null) {
            throw launchFailure;
        }
        if (shared == null) {
            try {
                shared = HeadlessBrowser.launchForTests();
            } catch (RuntimeException e) {
                launchFailure = e; // a browser that does not start fails every test at once, not after a timeout each
                throw e;
            }
        }
        return shared;
    }

    @AfterAll
    static void close() {
        if (shared != null) {
            shared.close();
        }
    }

    private static Path write(String name, String html) throws IOException {
        return Files.writeString(dir.resolve(name), html);
    }

    /** Two charts, one drawn by a script at load, and a table whose rows a script adds: the shape of a report. */
    private static final String REPORT = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>report</title>
            <style>
              body { font: 14px sans-serif; margin: 20px; background: #fafafa; }
              svg.chart { width: 400px; height: 200px; border: 1px solid #ccc; background: white; }
              table { border-collapse: collapse; } td, th { border: 1px solid #999; padding: 4px 8px; }
            </style></head>
            <body>
              <h1>Kernel comparison</h1>
              <svg class="chart" id="static" viewBox="0 0 400 200">
                <rect x="20" y="60" width="60" height="140" fill="#1f77b4"/>
                <rect x="100" y="20" width="60" height="180" fill="#ff7f0e"/>
                <text x="20" y="50">flash</text>
              </svg>
              <svg class="chart" id="drawn" viewBox="0 0 400 200"></svg>
              <table id="results"><thead><tr><th>mechanism</th><th>GFLOP/s</th></tr></thead><tbody></tbody></table>
              <script>
                const rows = [["flash", 210.5], ["naive", 48.1], ["sparse", 95.0], ["linear", 130.2]];
                const body = document.querySelector("#results tbody");
                const svg = document.getElementById("drawn");
                rows.forEach(([name, gflops], i) => {
                  const tr = body.insertRow();
                  tr.insertCell().textContent = name;
                  tr.insertCell().textContent = gflops.toFixed(1);
                  const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
                  bar.setAttribute("x", 20 + i * 90);
                  bar.setAttribute("y", 200 - gflops * 0.8);
                  bar.setAttribute("width", 60);
                  bar.setAttribute("height", gflops * 0.8);
                  bar.setAttribute("fill", "hsl(" + i * 80 + ", 60%, 45%)");
                  svg.appendChild(bar);
                });
                console.log("drawn", rows.length, "rows"); // not an error
              </script>
            </body></html>
            """;

    @Test
    void aReportPageLoadsCleanlyWithItsChartsAndTableDrawn() throws IOException {
        Path html = write("report.html", REPORT);
        try (Page page = browser().open(html)) {
            assertEquals(List.of(), page.consoleErrors());
            assertEquals(html.toUri().toString(), page.evaluate("location.href"));
            assertEquals(2, page.count("svg.chart"));
            assertEquals(true, page.evaluate(
                    "[...document.querySelectorAll('svg.chart')].every(svg => svg.childElementCount > 0)"));
            assertEquals(4, page.count("svg#drawn rect"));
            assertEquals(4, page.count("table#results tbody tr"));
            assertEquals(0, page.count("table#missing tr"));
            assertEquals(List.of("flash", "naive", "sparse", "linear"), page.evaluate(
                    "[...document.querySelectorAll('#results tbody tr td:first-child')].map(td => td.textContent)"));
            assertEquals(210.5, page.evaluate("Number(document.querySelector('#results td + td').textContent)"));
            assertTrue(page.dom().contains("<td>95.0</td>"), "the DOM is the one after the script ran");

            BufferedImage shot = ImageIO.read(new ByteArrayInputStream(page.screenshotPng()));
            assertEquals(HeadlessBrowser.WIDTH, shot.getWidth());
            assertEquals(HeadlessBrowser.HEIGHT, shot.getHeight());
            assertTrue(Page.nonBlank(page.screenshotPng()));
            System.out.printf("HeadlessBrowserTest: a report page opened in %d ms%n", page.openTime().toMillis());
        }
    }

    @Test
    void thrownErrorsAndConsoleErrorsAreReportedWithTheirText() throws IOException {
        Path html = write("errors.html", """
                <!doctype html><html><body><p>errors</p>
                <script>
                  console.warn("only a warning");
                  console.error("bad value", 42, {unit: "ms"});
                  window.addEventListener("load", () => { throw new TypeError("late boom"); });
                  throw new Error("boom");
                </script></body></html>
                """);
        try (Page page = browser().open(html)) {
            List<String> errors = page.consoleErrors();
            assertEquals(3, errors.size(), errors::toString);
            assertTrue(errors.get(0).startsWith("console.error: bad value 42 ") && errors.get(0).contains("errors.html:4"),
                    errors.get(0));
            assertTrue(errors.get(1).contains("Uncaught Error: boom") && errors.get(1).contains("errors.html:6"),
                    errors.get(1));
            assertTrue(errors.get(2).contains("Uncaught TypeError: late boom"), errors.get(2));
            BrowserException thrown = assertThrows(BrowserException.class, () -> page.evaluate("nope.length"));
            assertTrue(thrown.getMessage().contains("ReferenceError: nope is not defined"), thrown.getMessage());
        }
    }

    @Test
    void aResourceThatFailsToLoadIsAnError() throws IOException {
        Path html = write("missing.html", """
                <!doctype html><html><body><img src="no-such-image.png" alt="missing"></body></html>
                """);
        try (Page page = browser().open(html)) {
            List<String> errors = page.consoleErrors();
            assertEquals(1, errors.size(), errors::toString);
            assertTrue(errors.getFirst().contains("no-such-image.png"), errors.getFirst());
        }
    }

    @Test
    void aBlankPageLooksBlank() throws IOException {
        Path html = write("blank.html", "<!doctype html><html><body style=\"background: white\"></body></html>");
        try (Page page = browser().open(html)) {
            assertEquals(List.of(), page.consoleErrors());
            assertFalse(Page.nonBlank(page.screenshotPng()));
        }
    }

    @Test
    void aPageThatNeverFinishesLoadingFailsInBoundedTime() throws IOException {
        Path html = write("hang.html", """
                <!doctype html><html><body><p>never</p><script>for (;;) {}</script></body></html>
                """);
        HeadlessBrowser browser = browser();
        long start = System.nanoTime();
        BrowserException e = assertThrows(BrowserException.class, () -> browser.open(html, Duration.ofSeconds(3)));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(e.getMessage().contains("did not finish loading within 3 s"), e.getMessage());
        assertTrue(millis < 3_000 + 20_000, "gave up after " + millis + " ms");
        // the browser still serves other pages
        try (Page page = browser.open(write("after.html", "<!doctype html><p>fine</p>"))) {
            assertEquals(1, page.count("p"));
        }
    }

    @Test
    void aFileThatDoesNotExistIsRefused() {
        HeadlessBrowser browser = browser();
        BrowserException e = assertThrows(BrowserException.class, () -> browser.open(dir.resolve("absent.html")));
        assertTrue(e.getMessage().contains("ERR_FILE_NOT_FOUND"), e.getMessage());
    }

    @Test
    void closingEndsEveryProcessOfTheBrowserAndDeletesItsProfile() throws IOException {
        HeadlessBrowser own = HeadlessBrowser.launchForTests();
        List<ProcessHandle> tree;
        try {
            own.open(write("one.html", "<!doctype html><p>one</p>"));
            tree = own.processes();
            assertTrue(tree.size() > 1, "a browser, its renderer and helpers: " + tree);
            assertTrue(Files.isDirectory(own.profile()));
        } finally {
            own.close();
        }
        for (ProcessHandle p : tree) {
            assertFalse(HeadlessBrowser.running(p), () -> "still running after close: " + p.pid() + " " + p.info());
        }
        assertFalse(Files.exists(own.profile()), "the profile is deleted");
        assertThrows(IllegalStateException.class, () -> own.open(dir.resolve("one.html")));
    }
}
