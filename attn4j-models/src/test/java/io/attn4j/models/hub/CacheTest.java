package io.attn4j.models.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheTest {
    @TempDir
    Path dir;
    private final String saved = System.getProperty(Cache.PROPERTY);

    @AfterEach
    void restore() {
        if (saved == null) {
            System.clearProperty(Cache.PROPERTY);
        } else {
            System.setProperty(Cache.PROPERTY, saved);
        }
    }

    @Test
    void thePropertyWinsAndDirectoriesAreCreated() {
        Path root = dir.resolve("a/b");
        System.setProperty(Cache.PROPERTY, root.toString());
        assertEquals(root, Cache.root());
        assertTrue(Files.isDirectory(root));
        assertEquals(root.resolve("corpora/brown"), Cache.dir("corpora", "brown"));
        assertTrue(Files.isDirectory(root.resolve("corpora/brown")));
    }

    @Test
    void aBlankPropertyFallsBackToTheDefault() {
        System.setProperty(Cache.PROPERTY, " ");
        String env = System.getenv(Cache.ENVIRONMENT);
        Path expected = env == null || env.isBlank()
                ? Path.of(System.getProperty("user.home"), ".cache", "attn4j") : Path.of(env);
        assertEquals(expected.toAbsolutePath().normalize(), Cache.root());
    }

    @Test
    void pathsOutsideTheRootAreRefused() {
        System.setProperty(Cache.PROPERTY, dir.toString());
        assertThrows(IllegalArgumentException.class, () -> Cache.dir("..", "elsewhere"));
        assertThrows(IllegalArgumentException.class, () -> Cache.dir("/tmp"));
    }
}
