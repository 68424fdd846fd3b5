package io.attn4j.models.bert;

import io.attn4j.attention.AttentionMechanism;
import io.attn4j.attention.Pattern;
import io.attn4j.catalog.Catalog;
import io.attn4j.catalog.Mechanism;
import io.attn4j.runtime.Engine;

import java.util.ArrayList;
import java.util.List;

/**
 * Which attention mechanism runs in which layer and head of an encoder.
 *
 * <p>Syntax: a catalog id for every layer and head ({@code flash}), or comma-separated assignments
 * {@code LAYERS[/HEADS]:ID} where {@code LAYERS} and {@code HEADS} are {@code n}, {@code a-b} (inclusive) or
 * {@code *} (every one): {@code 0-2:flash,3-5:hip}, or {@code 0-5/0-5:flash,0-5/6-11:reference} for one mechanism
 * per head group.
 * Later assignments override earlier ones; whatever none names runs {@code flash}. An encoder attends
 * bidirectionally within each text, so only mechanisms that support the noncausal-self pattern ({@link Pattern#NS})
 * are accepted.
 */
public final class AttentionPlan {
    /** The default mechanism. */
    public static final String DEFAULT = "flash";

    private final String text;
    private final List<Assignment> assignments;

    /** One assignment; {@code -1} bounds mean "every". */
    private record Assignment(int layerFrom, int layerTo, int headFrom, int headTo, String id) {
    }

    /** Heads {@code [from, to)} of a layer and the mechanism that computes them. */
    public record HeadGroup(int from, int to, AttentionMechanism mechanism) {
    }

    private AttentionPlan(String text, List<Assignment> assignments) {
        this.text = text;
        this.assignments = assignments;
    }

    /** {@link #DEFAULT} everywhere. */
    public static AttentionPlan uniform(String id) {
        return parse(id);
    }

    /** Parses the syntax of the class comment. */
    public static AttentionPlan parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("attention plan is empty; give a mechanism id or LAYERS[/HEADS]:ID,...");
        }
        List<Assignment> list = new ArrayList<>();
        for (String part : text.split(",")) {
            String p = part.trim();
            int colon = p.lastIndexOf(':');
            if (colon < 0) {
                list.add(new Assignment(-1, -1, -1, -1, check(p, text)));
                continue;
            }
            String where = p.substring(0, colon).trim(), id = check(p.substring(colon + 1).trim(), text);
            String layers = where, heads = "*";
            int slash = where.indexOf('/');
            if (slash >= 0) {
                layers = where.substring(0, slash);
                heads = where.substring(slash + 1);
            }
            int[] l = range(layers, "layers", text), h = range(heads, "heads", text);
            list.add(new Assignment(l[0], l[1], h[0], h[1], id));
        }
        return new AttentionPlan(text, List.copyOf(list));
    }

    private static String check(String id, String text) {
        if (id.isEmpty()) {
            throw new IllegalArgumentException("attention plan '" + text + "' names no mechanism in one entry");
        }
        Mechanism m = Catalog.get(Catalog.idOf(id)); // unknown ids fail here, listing the known ones
        Catalog.create(id, Engine.defaults()); // and invalid budgets (hip@25%) here
        if (!m.supports(Pattern.NS)) {
            throw new IllegalArgumentException("mechanism '" + id + "' cannot run in an encoder: it supports "
                    + m.patternList() + ", and an encoder needs noncausal self-attention (NS)");
        }
        return id;
    }

    private static int[] range(String text, String what, String whole) {
        String t = text.trim();
        if (t.equals("*")) {
            return new int[] {-1, -1};
        }
        try {
            int dash = t.indexOf('-');
            int a = Integer.parseInt(dash < 0 ? t : t.substring(0, dash).trim());
            int b = dash < 0 ? a : Integer.parseInt(t.substring(dash + 1).trim());
            if (a < 0 || b < a) {
                throw new NumberFormatException();
            }
            return new int[] {a, b};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("attention plan '" + whole + "': " + what + " '" + text
                    + "'; allowed: n, a-b (a <= b) or *");
        }
    }

    /**
     * The head groups of every layer of a model with {@code layers} layers of {@code heads} heads: consecutive heads
     * with the same mechanism form one group. Assignments outside the model are an error.
     */
    public List<List<HeadGroup>> resolve(int layers, int heads, Engine engine) {
        String[][] ids = new String[layers][heads];
        for (String[] row : ids) {
            java.util.Arrays.fill(row, DEFAULT);
        }
        for (Assignment a : assignments) {
            if (a.layerTo >= layers || a.headTo >= heads) {
                throw new IllegalArgumentException("attention plan '" + text + "' names layer " + a.layerTo + " or head "
                        + a.headTo + "; the model has layers 0-" + (layers - 1) + " and heads 0-" + (heads - 1));
            }
            for (int l = a.layerFrom < 0 ? 0 : a.layerFrom; l <= (a.layerFrom < 0 ? layers - 1 : a.layerTo); l++) {
                for (int h = a.headFrom < 0 ? 0 : a.headFrom; h <= (a.headFrom < 0 ? heads - 1 : a.headTo); h++) {
                    ids[l][h] = a.id;
                }
            }
        }
        java.util.Map<String, AttentionMechanism> created = new java.util.HashMap<>();
        List<List<HeadGroup>> plan = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            List<HeadGroup> groups = new ArrayList<>();
            int from = 0;
            for (int h = 1; h <= heads; h++) {
                if (h == heads || !ids[l][h].equals(ids[l][from])) {
                    AttentionMechanism m = created.computeIfAbsent(ids[l][from], id -> Catalog.create(id, engine));
                    groups.add(new HeadGroup(from, h, m));
                    from = h;
                }
            }
            plan.add(List.copyOf(groups));
        }
        return List.copyOf(plan);
    }

    @Override
    public String toString() {
        return text;
    }
}
