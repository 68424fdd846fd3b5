package io.attn4j.util;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressTest {
    @Test
    void aLogGetsALinePerTenthWithTheTimeLeft() {
        StringWriter text = new StringWriter();
        AtomicLong clock = new AtomicLong();
        try (Progress p = new Progress(new PrintWriter(text), "embed minilm", 200, "texts", false, clock::get)) {
            for (int done = 1; done <= 200; done++) {
                clock.addAndGet(50_000_000L); // 50 ms per text
                p.update(done);
            }
        }
        String[] lines = text.toString().split("\n");
        assertEquals(10, lines.length, text.toString());
        assertEquals("embed minilm  [##########----------]  50%  100/200 texts  0:05 left", lines[4]);
        assertEquals("embed minilm  [####################] 100%  200/200 texts  done in 0:10", lines[9]);
    }

    @Test
    void aTerminalIsRedrawnInPlaceAtMostFiveTimesASecond() {
        StringWriter text = new StringWriter();
        AtomicLong clock = new AtomicLong();
        try (Progress p = new Progress(new PrintWriter(text), "x", 1000, "steps", true, clock::get)) {
            for (int done = 1; done <= 1000; done++) {
                clock.addAndGet(1_000_000L); // 1 ms per step: one second in all
                p.update(done);
            }
        }
        String out = text.toString();
        long redraws = out.chars().filter(c -> c == '\r').count();
        assertTrue(redraws >= 5 && redraws <= 7, redraws + " redraws");
        assertTrue(out.endsWith("done in 0:01\u001b[K\n"), out);
        assertThrows(IllegalArgumentException.class, () -> new Progress(new PrintWriter(text), "x", 0, "s", true));
    }
}
