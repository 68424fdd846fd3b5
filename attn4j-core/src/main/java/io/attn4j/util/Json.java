package io.attn4j.util;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal JSON writer and reader (benchmark output, model configs, tokenizer files): objects keep their key order, non-finite numbers are
 * written as {@code null}, integers without a fraction. Values are {@code Map}, {@code List}, {@code String},
 * {@code Number}, {@code Boolean} or {@code null}.
 */
public final class Json {
    private Json() {
    }

    /** An ordered object under construction. */
    public static Map<String, Object> object() {
        return new LinkedHashMap<>();
    }

    /** {@code s} as a JSON string literal, quotes included. */
    public static String quote(String s) {
        StringBuilder sb = new StringBuilder();
        quote(s, sb);
        return sb.toString();
    }

    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, 0);
        return sb.append('\n').toString();
    }

    private static void write(Object value, StringBuilder sb, int indent) {
        if (value == null) {
            sb.append("null");
        } else if (value instanceof String s) {
            quote(s, sb);
        } else if (value instanceof Boolean b) {
            sb.append(b);
        } else if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            if (!Double.isFinite(d)) {
                sb.append("null");
            } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                sb.append((long) d);
            } else {
                sb.append(d);
            }
        } else if (value instanceof Number n) {
            sb.append(n.longValue());
        } else if (value instanceof Map<?, ?> map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : map.entrySet()) {
                sb.append(first ? "\n" : ",\n").append("  ".repeat(indent + 1));
                quote(String.valueOf(e.getKey()), sb);
                sb.append(": ");
                write(e.getValue(), sb, indent + 1);
                first = false;
            }
            sb.append(first ? "}" : "\n" + "  ".repeat(indent) + "}");
        } else if (value instanceof List<?> list) {
            sb.append('[');
            boolean first = true;
            for (Object o : list) {
                sb.append(first ? "\n" : ",\n").append("  ".repeat(indent + 1));
                write(o, sb, indent + 1);
                first = false;
            }
            sb.append(first ? "]" : "\n" + "  ".repeat(indent) + "]");
        } else {
            throw new IllegalArgumentException("cannot write " + value.getClass() + " as JSON");
        }
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** Parses a JSON document (numbers become {@code Double}). */
    public static Object parse(String text) {
        Parser p = new Parser(text);
        Object value = p.value();
        p.skipSpace();
        if (p.at != text.length()) {
            throw p.error("trailing characters");
        }
        return value;
    }

    /** Deeper documents are refused rather than risking the stack (real configs nest a few levels). */
    private static final int MAX_DEPTH = 256;

    private static final class Parser {
        private final String s;
        private int at;
        private int depth;

        Parser(String s) {
            this.s = s;
        }

        IllegalArgumentException error(String what) {
            return new IllegalArgumentException("JSON: " + what + " at offset " + at);
        }

        void skipSpace() {
            while (at < s.length() && Character.isWhitespace(s.charAt(at))) {
                at++;
            }
        }

        Object value() {
            skipSpace();
            if (at >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(at);
            if ((c == '{' || c == '[') && ++depth > MAX_DEPTH) {
                throw error("nesting deeper than " + MAX_DEPTH);
            }
            if (c == '{') {
                at++;
                Map<String, Object> map = new LinkedHashMap<>();
                skipSpace();
                if (peek('}')) {
                    depth--;
                    return map;
                }
                do {
                    skipSpace();
                    String key = string();
                    skipSpace();
                    expect(':');
                    map.put(key, value());
                    skipSpace();
                } while (peek(','));
                expect('}');
                depth--;
                return map;
            }
            if (c == '[') {
                at++;
                List<Object> list = new ArrayList<>();
                skipSpace();
                if (peek(']')) {
                    depth--;
                    return list;
                }
                do {
                    list.add(value());
                    skipSpace();
                } while (peek(','));
                expect(']');
                depth--;
                return list;
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", at)) {
                at += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", at)) {
                at += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", at)) {
                at += 4;
                return null;
            }
            int start = at;
            while (at < s.length() && "+-0123456789.eE".indexOf(s.charAt(at)) >= 0) {
                at++;
            }
            if (start == at) {
                throw error("unexpected '" + c + "'");
            }
            try {
                return Double.parseDouble(s.substring(start, at));
            } catch (NumberFormatException e) {
                throw error("bad number");
            }
        }

        boolean peek(char c) {
            if (at < s.length() && s.charAt(at) == c) {
                at++;
                return true;
            }
            return false;
        }

        void expect(char c) {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
        }

        String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (at < s.length()) {
                char c = s.charAt(at++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c == '\\') {
                    if (at >= s.length()) {
                        break;
                    }
                    char e = s.charAt(at++);
                    switch (e) {
                        case 'n' -> sb.append('\n');
                        case 't' -> sb.append('\t');
                        case 'r' -> sb.append('\r');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'u' -> {
                            int code = 0;
                            for (int end = at + 4; at < end; at++) {
                                char h = at < s.length() ? s.charAt(at) : 'x';
                                int digit = h < 128 ? Character.digit(h, 16) : -1; // ASCII hex digits only
                                if (digit < 0) {
                                    throw error("\\u escape needs four hexadecimal digits");
                                }
                                code = code * 16 + digit;
                            }
                            sb.append((char) code);
                        }
                        case '"', '\\', '/' -> sb.append(e);
                        default -> throw error("invalid escape \\" + e);
                    }
                } else {
                    sb.append(c);
                }
            }
            throw error("unterminated string");
        }
    }
}
