package io.attn4j.bench.compare;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.function.DoubleFunction;

/**
 * Inline SVG charts for the report: no library, no script — text a browser draws as it is, that prints and that
 * survives being saved. Every chart has a title, labelled axes with units, ticks, a legend, and a {@code <title>}
 * tooltip on every mark with its exact value.
 */
final class Svg {
    static final String[] PALETTE = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#17becf", "#7f7f7f", "#bcbd22"};
    private static final int W = 680, H = 380, LEFT = 72, RIGHT = 150, TOP = 36, BOTTOM = 52;

    private Svg() {
    }

    /** A series of a line chart: points in x order; NaN values are gaps. */
    record Series(String name, String color, double[] x, double[] y) {
    }

    /** A labelled point of a scatter chart. */
    record Mark(String label, String color, double x, double y, String tooltip) {
    }

    /** A bar: {@code value} NaN draws no bar and shows {@code note} instead. */
    record Bar(String label, String color, double value, String note) {
    }

    /** An axis: range, scale, ticks and their labels. */
    private record Axis(double lo, double hi, boolean log, double[] ticks, DoubleFunction<String> label) {
        double map(double v, double from, double to) {
            double a = log ? Math.log(v) : v, l = log ? Math.log(lo) : lo, h = log ? Math.log(hi) : hi;
            return from + (a - l) / (h - l) * (to - from);
        }
    }

    static String lineChart(String id, String title, String xLabel, String yLabel, List<Series> series,
                            DoubleFunction<String> xFormat, DoubleFunction<String> yFormat) {
        List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (Double.isFinite(s.y()[i]) && s.y()[i] > 0) {
                    xs.add(s.x()[i]);
                    ys.add(s.y()[i]);
                }
            }
        }
        StringBuilder sb = open(id, title);
        if (xs.isEmpty()) {
            return empty(sb, "no measurements");
        }
        TreeSet<Double> distinctX = new TreeSet<>(xs);
        Axis x = new Axis(distinctX.first() / 1.25, distinctX.last() * 1.25, true,
                distinctX.stream().mapToDouble(Double::doubleValue).toArray(), xFormat);
        Axis y = logAxis(ys, yFormat);
        axes(sb, x, y, xLabel, yLabel);
        int legend = 0;
        for (Series s : series) {
            StringBuilder path = new StringBuilder();
            StringBuilder dots = new StringBuilder();
            boolean pen = false;
            for (int i = 0; i < s.x().length; i++) {
                double v = s.y()[i];
                if (!Double.isFinite(v) || v <= 0) {
                    pen = false;
                    continue;
                }
                double px = x.map(s.x()[i], LEFT, W - RIGHT), py = y.map(v, H - BOTTOM, TOP);
                path.append(pen ? " L" : " M").append(f(px)).append(' ').append(f(py));
                pen = true;
                dots.append(String.format(Locale.ROOT, "<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" fill=\"%s\"><title>%s, "
                                + "%s: %s</title></circle>", f(px), f(py), s.color(), esc(s.name()),
                        esc(xFormat.apply(s.x()[i])), esc(yFormat.apply(v))));
            }
            if (!path.isEmpty()) {
                sb.append(String.format(Locale.ROOT, "<path class=\"series\" data-name=\"%s\" d=\"%s\" fill=\"none\" "
                        + "stroke=\"%s\" stroke-width=\"2\"/>", esc(s.name()), path.toString().trim(), s.color()));
                sb.append(dots);
                legendEntry(sb, legend++, s.name(), s.color());
            }
        }
        return sb.append("</svg>").toString();
    }

    static String scatter(String id, String title, String xLabel, String yLabel, List<Mark> marks,
                          DoubleFunction<String> xFormat, DoubleFunction<String> yFormat) {
        StringBuilder sb = open(id, title);
        List<Double> xs = new ArrayList<>(), ys = new ArrayList<>();
        for (Mark m : marks) {
            if (Double.isFinite(m.x()) && m.x() > 0 && Double.isFinite(m.y()) && m.y() > 0) {
                xs.add(m.x());
                ys.add(m.y());
            }
        }
        if (xs.isEmpty()) {
            return empty(sb, "no mechanism with both a speed and a fidelity figure");
        }
        Axis x = logAxis(xs, xFormat), y = logAxis(ys, yFormat);
        axes(sb, x, y, xLabel, yLabel);
        int legend = 0;
        List<String> seen = new ArrayList<>();
        List<double[]> labels = new ArrayList<>();
        for (Mark m : marks) {
            if (!(Double.isFinite(m.x()) && m.x() > 0 && Double.isFinite(m.y()) && m.y() > 0)) {
                continue;
            }
            double px = x.map(m.x(), LEFT, W - RIGHT), py = y.map(m.y(), H - BOTTOM, TOP);
            sb.append(String.format(Locale.ROOT, "<circle class=\"mark\" cx=\"%s\" cy=\"%s\" r=\"6\" fill=\"%s\" "
                    + "fill-opacity=\"0.8\"><title>%s</title></circle>", f(px), f(py), m.color(), esc(m.tooltip())));
            double ly = py - 6; // move a label down past the labels already placed near it
            for (boolean moved = true; moved; ) {
                moved = false;
                for (double[] p : labels) {
                    // moves only downwards: (p + 13) − p can round below 13, which must not count as overlap again
                    if (Math.abs(p[0] - (px + 8)) < 130 && Math.abs(p[1] - ly) < 13 && p[1] + 13 > ly) {
                        ly = p[1] + 13;
                        moved = true;
                    }
                }
            }
            labels.add(new double[] {px + 8, ly});
            sb.append(String.format(Locale.ROOT, "<text x=\"%s\" y=\"%s\" font-size=\"11\">%s</text>", f(px + 8),
                    f(ly), esc(m.label())));
            String name = m.label().split(" ")[0];
            if (!seen.contains(name)) {
                seen.add(name);
                legendEntry(sb, legend++, name, m.color());
            }
        }
        return sb.append("</svg>").toString();
    }

    /**
     * A heatmap of shares in [0, 1]: one row per {@code rowLabels} entry, one column per {@code columnLabels}
     * entry, each cell coloured from red (0) through yellow to green (1) and printed as a percentage; NaN cells are
     * grey ("not measured").
     */
    static String heatmap(String id, String title, String rowAxis, String columnAxis, List<String> rowLabels,
                          List<String> columnLabels, double[][] values) {
        int cell = 40, left = 84, top = 44, width = left + Math.max(1, columnLabels.size()) * cell + 20;
        int height = top + Math.max(1, rowLabels.size()) * 26 + 44;
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "<svg class=\"chart heatmap\" id=\"%s\" "
                + "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">"
                + "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"600\">%s</text>", esc(id), width, height,
                esc(title), 12, esc(title)));
        for (int c = 0; c < columnLabels.size(); c++) {
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">"
                    + "%s</text>", left + c * cell + cell / 2, top - 6, esc(columnLabels.get(c))));
        }
        for (int r = 0; r < rowLabels.size(); r++) {
            int y = top + r * 26;
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s"
                    + "</text>", left - 6, y + 17, esc(rowLabels.get(r))));
            for (int c = 0; c < columnLabels.size(); c++) {
                double v = values[r][c];
                String fill = Double.isFinite(v) ? shareColor(v) : "#ddd";
                String text = Double.isFinite(v) ? String.format(Locale.ROOT, "%.0f", 100 * v) : "–";
                sb.append(String.format(Locale.ROOT, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" "
                                + "height=\"24\" fill=\"%s\"><title>%s %s, %s %s: %s</title></rect><text x=\"%d\" y=\"%d\" "
                                + "font-size=\"10\" text-anchor=\"middle\">%s</text>", left + c * cell, y, cell - 2,
                        fill, esc(rowAxis), esc(rowLabels.get(r)), esc(columnAxis), esc(columnLabels.get(c)),
                        Double.isFinite(v) ? text + " %" : "not measured", left + c * cell + cell / 2 - 1, y + 16,
                        text));
            }
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s"
                + "</text>", left + columnLabels.size() * cell / 2, height - 12, esc(columnAxis)));
        return sb.append("</svg>").toString();
    }

    /** Red (0) → yellow (0.5) → green (1). */
    private static String shareColor(double v) {
        double t = Math.max(0, Math.min(1, v));
        int red = t < 0.5 ? 215 : (int) Math.round(215 - (t - 0.5) * 2 * (215 - 80));
        int green = t < 0.5 ? (int) Math.round(80 + t * 2 * (190 - 80)) : 190;
        return String.format(Locale.ROOT, "#%02x%02x%02x", red, green, 80);
    }

    static String bars(String id, String title, String xLabel, List<Bar> bars, DoubleFunction<String> format) {
        int rowH = 26, height = TOP + BOTTOM + Math.max(1, bars.size()) * rowH;
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "<svg class=\"chart\" id=\"%s\" "
                + "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">"
                + "<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"600\">%s</text>", esc(id), W, height,
                esc(title), 12, esc(title)));
        if (bars.isEmpty()) {
            return empty(sb, "no mechanism to compare with flash");
        }
        List<Double> values = new ArrayList<>();
        bars.stream().filter(b -> Double.isFinite(b.value()) && b.value() > 0).forEach(b -> values.add(b.value()));
        int left = 190, right = W - 40;
        Axis x = values.isEmpty() ? null : logAxis(values, format);
        if (x != null) {
            for (double t : x.ticks()) {
                double px = x.map(t, left, right);
                sb.append(String.format(Locale.ROOT, "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%d\" stroke=\"#ddd\"/>"
                                + "<text x=\"%s\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>", f(px), TOP,
                        f(px), height - BOTTOM, f(px), height - BOTTOM + 16, esc(format.apply(t))));
            }
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>",
                (left + right) / 2, height - 12, esc(xLabel)));
        for (int i = 0; i < bars.size(); i++) {
            Bar b = bars.get(i);
            int y = TOP + i * rowH;
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\">%s</text>",
                    left - 8, y + 17, esc(b.label())));
            if (x != null && Double.isFinite(b.value()) && b.value() > 0) {
                double w = Math.max(2, x.map(b.value(), left, right) - left);
                sb.append(String.format(Locale.ROOT, "<rect class=\"bar\" x=\"%d\" y=\"%d\" width=\"%s\" height=\"%d\" "
                                + "fill=\"%s\"><title>%s: %s</title></rect>", left, y + 4, f(w), rowH - 8, b.color(),
                        esc(b.label()), esc(format.apply(b.value()))));
                sb.append(String.format(Locale.ROOT, "<text x=\"%s\" y=\"%d\" font-size=\"11\">%s</text>",
                        f(left + w + 4), y + 17, esc(format.apply(b.value()))));
            } else {
                sb.append(String.format(Locale.ROOT, "<text class=\"bar-note\" x=\"%d\" y=\"%d\" font-size=\"11\" "
                        + "fill=\"#555\">%s</text>", left + 4, y + 17, esc(b.note())));
            }
        }
        return sb.append("</svg>").toString();
    }

    private static StringBuilder open(String id, String title) {
        return new StringBuilder(String.format(Locale.ROOT, "<svg class=\"chart\" id=\"%s\" "
                        + "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">"
                        + "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"600\">%s</text>", esc(id), W, H,
                esc(title), LEFT, esc(title)));
    }

    private static String empty(StringBuilder sb, String why) {
        return sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"#555\">%s</text>"
                + "</svg>", LEFT, H / 2, esc(why))).toString();
    }

    /** A log axis over the values, padded, with ticks at 1-2-5 steps of each decade (decades only when wide). */
    private static Axis logAxis(List<Double> values, DoubleFunction<String> format) {
        double lo = values.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        double hi = values.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        if (hi / lo < 4) {
            double mid = Math.sqrt(lo * hi);
            lo = mid / 2.5;
            hi = mid * 2.5;
        } else {
            lo /= 1.3;
            hi *= 1.3;
        }
        boolean wide = Math.log10(hi / lo) > 4;
        List<Double> ticks = new ArrayList<>();
        for (int e = (int) Math.floor(Math.log10(lo)); e <= (int) Math.ceil(Math.log10(hi)); e++) {
            for (double m : wide ? new double[] {1} : new double[] {1, 2, 5}) {
                double t = m * Math.pow(10, e);
                if (t >= lo && t <= hi) {
                    ticks.add(t);
                }
            }
        }
        return new Axis(lo, hi, true, ticks.stream().mapToDouble(Double::doubleValue).toArray(), format);
    }

    private static void axes(StringBuilder sb, Axis x, Axis y, String xLabel, String yLabel) {
        int x0 = LEFT, x1 = W - RIGHT, y0 = H - BOTTOM, y1 = TOP;
        for (double t : y.ticks()) {
            double py = y.map(t, y0, y1);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%s\" x2=\"%d\" y2=\"%s\" stroke=\"#e3e3e3\"/>"
                            + "<text x=\"%d\" y=\"%s\" font-size=\"11\" text-anchor=\"end\">%s</text>", x0, f(py), x1, f(py),
                    x0 - 6, f(py + 4), esc(y.label().apply(t))));
        }
        for (double t : x.ticks()) {
            double px = x.map(t, x0, x1);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%s\" y1=\"%d\" x2=\"%s\" y2=\"%d\" stroke=\"#e3e3e3\"/>"
                            + "<text x=\"%s\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>", f(px), y1, f(px),
                    y0, f(px), y0 + 16, esc(x.label().apply(t))));
        }
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#999\"/>", x0, y1, x1 - x0, y0 - y1));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">%s</text>",
                (x0 + x1) / 2, H - 12, esc(xLabel)));
        sb.append(String.format(Locale.ROOT, "<text x=\"16\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" "
                + "transform=\"rotate(-90 16 %d)\">%s</text>", (y0 + y1) / 2, (y0 + y1) / 2, esc(yLabel)));
    }

    private static void legendEntry(StringBuilder sb, int i, String name, String color) {
        int x = W - RIGHT + 14, y = TOP + 10 + i * 20;
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>", x, y - 2, color, x + 20, y + 3, esc(name)));
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static String f(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
