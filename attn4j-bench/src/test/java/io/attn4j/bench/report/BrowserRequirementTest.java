package io.attn4j.bench.report;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without Chromium, browser tests are skipped, or fail saying what to install when the browser is required. */
class BrowserRequirementTest {
    @Test
    void aMissingBrowserFailsTheTestWhenRequired() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> HeadlessBrowser.launchForTests(Optional.empty(), true));
        assertTrue(e.getMessage().contains("apt-get install chromium"), e.getMessage());
        assertTrue(e.getMessage().contains("-Dattn4j.requireBrowser=true"), e.getMessage());
    }

    @Test
    void aMissingBrowserSkipsTheTestOtherwise() {
        TestAbortedException e = assertThrows(TestAbortedException.class,
                () -> HeadlessBrowser.launchForTests(Optional.empty(), false));
        assertTrue(e.getMessage().contains("apt-get install chromium"), e.getMessage());
    }
}
