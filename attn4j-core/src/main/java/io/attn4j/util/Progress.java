package io.attn4j.util;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A progress bar for long commands: what is running, how far it is, and the time left, on one line of a terminal
 * (redrawn in place) or, when the output is not a terminal, as a plain line every tenth of the way.
 *
 * <pre>
 *   embed minilm  [##########----------]  51%  3712/7368 texts  0:41 left
 * </pre>
 *
 * The time left extrapolates the rate so far. Updates are throttled to one redraw per 200 ms. Not thread-safe:
 * one thread reports.
 */
public final class Progress implements AutoCloseable {
    private static final int BAR = 20;
    private static final long REDRAW_NANOS = 200_000_000L;

    private final PrintWriter out;
    private final String label;
    private final long total;
    private final String unit;
    private final boolean terminal;
    private final LongSupplier clock;
    private final long start;
    private long lastDraw;
    private int lastTenth = 0;
    private long done;
    private boolean drawn;
    private String detail = "";

    /**
     * @param out      where to draw (stderr, usually)
     * @param label    what is running
     * @param total    units of work in all (at least 1)
     * @param unit     what a unit is ("texts")
     * @param terminal whether {@code out} is a terminal (redraw in place) or a log (a line per tenth)
     */
    public Progress(PrintWriter out, String label, long total, String unit, boolean terminal) {
        this(out, label, total, unit, terminal, System::nanoTime);
    }

    Progress(PrintWriter out, String label, long total, String unit, boolean terminal, LongSupplier clock) {
        if (total < 1) {
            throw new IllegalArgumentException("total = " + total + "; allowed: >= 1");
        }
        this.out = out;
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.terminal = terminal;
        this.clock = clock;
        this.start = clock.getAsLong();
    }

    /** Whether this process's standard streams are a terminal. */
    public static boolean isTerminal() {
        return System.console() != null && System.console().isTerminal();
    }

    /** Records that {@code doneSoFar} units are complete and says what runs now (shown after the time left). */
    public void update(long doneSoFar, String what) {
        detail = what == null ? "" : what;
        update(doneSoFar);
    }

    /** Records that {@code doneSoFar} units are complete. */
    public void update(long doneSoFar) {
        done = Math.max(0, Math.min(total, doneSoFar));
        long now = clock.getAsLong();
        if (terminal) {
            if (!drawn || now - lastDraw >= REDRAW_NANOS || done == total) {
                lastDraw = now;
                out.print("\r" + line(now) + "\u001b[K");
                out.flush();
                drawn = true;
            }
        } else {
            int tenth = (int) (done * 10 / total);
            if (tenth > lastTenth) {
                lastTenth = tenth;
                out.println(line(now));
                out.flush();
            }
        }
    }

    /** The line as it would be drawn now (tests). */
    String line(long now) {
        int filled = (int) (done * BAR / total);
        double seconds = (now - start) / 1e9;
        String left = done == 0 ? "?" : clockTime(seconds * (total - done) / done);
        return String.format(Locale.ROOT, "%s  [%s%s] %3d%%  %d/%d %s  %s", label, "#".repeat(filled),
                "-".repeat(BAR - filled), done * 100 / total, done, total, unit,
                done == total ? "done in " + clockTime(seconds) : left + " left")
                + (detail.isEmpty() || done == total ? "" : "  " + detail);
    }

    private static String clockTime(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    /** Ends the bar's line on a terminal. */
    @Override
    public void close() {
        if (terminal && drawn) {
            out.println();
            out.flush();
        }
    }
}
