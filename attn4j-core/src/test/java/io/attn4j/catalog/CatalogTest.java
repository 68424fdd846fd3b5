package io.attn4j.catalog;

import io.attn4j.attention.exact.FlashAttention;
import io.attn4j.runtime.Engine;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CatalogTest {

    @Test
    void everyEntryIsCompleteAndUnique() {
        Set<String> ids = new HashSet<>();
        for (Mechanism m : Catalog.all()) {
            assertTrue(ids.add(m.id()), "duplicate id " + m.id());
            assertTrue(m.id().matches("[a-z0-9-]+"), "ids are lower-case words: " + m.id());
            assertFalse(m.patterns().isEmpty(), m.id() + " declares patterns");
            assertFalse(m.paper().isBlank() || m.system().isBlank() || m.time().isBlank(), m.id());
            assertEquals(m.id(), m.create().descriptor().id(), "the instance reports its own entry");
        }
        assertTrue(ids.containsAll(Set.of("reference", "naive", "flash", "lean")));
    }

    @Test
    void lookupsAndConfigsAreChecked() {
        var e = assertThrows(IllegalArgumentException.class, () -> Catalog.get("nope"));
        assertTrue(e.getMessage().contains("flash"), "the message lists the known ids");
        Mechanism flash = Catalog.get("flash");
        assertInstanceOf(FlashAttention.class, flash.create(new FlashAttention.Config(32, 128), Engine.defaults()));
        assertThrows(IllegalArgumentException.class, () -> flash.create(MechanismConfig.NONE));
        assertThrows(IllegalArgumentException.class, () -> new FlashAttention.Config(0, 64));
    }
}
