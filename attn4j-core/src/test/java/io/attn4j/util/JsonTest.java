package io.attn4j.util;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {
    @Test
    void writesAndReadsBack() {
        Map<String, Object> o = Json.object();
        o.put("text", "quote \" backslash \\ newline \n tab \t control \u0001");
        o.put("int", 42);
        o.put("double", 0.125);
        o.put("nan", Double.NaN);
        o.put("list", List.of(1, "two", true));
        o.put("empty", Json.object());
        Object back = Json.parse(Json.write(o));
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) back;
        assertEquals(o.get("text"), m.get("text"));
        assertEquals(42.0, m.get("int"));
        assertEquals(0.125, m.get("double"));
        assertNull(m.get("nan"), "non-finite numbers are written as null");
        assertEquals(List.of(1.0, "two", true), m.get("list"));
        assertEquals(Map.of(), m.get("empty"));
        assertEquals(List.copyOf(o.keySet()), List.copyOf(m.keySet()), "key order is kept");
    }

    @Test
    void malformedDocumentsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{\"a\": }"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[1, 2"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("{} x"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("\"open"));
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[".repeat(100_000)));
        // escapes: four ASCII hex digits after a backslash-u (no sign, no digits of other scripts), only JSON's escapes
        assertEquals("A\u00e9/\"\\", Json.parse("\"\\u0041\\u00E9\\/\\\"\\\\\""));
        for (String bad : List.of("\"\\u+123\"", "\"\\u12\"", "\"\\u12", "\"\\u\u0663\u0663\u0663\u0663\"",
                "\"\\x41\"", "\"\\'\"")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertTrue(e.getMessage().contains("escape"), e.getMessage());
        }
        assertEquals("\"a\\\"b\\nc\"", Json.quote("a\"b\nc"));
        assertEquals(List.of(List.of()), Json.parse("[[]]"));
    }
}
