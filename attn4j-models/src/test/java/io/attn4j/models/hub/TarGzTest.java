package io.attn4j.models.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attn4j.models.testing.TarBuilder;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarGzTest {
    @TempDir
    Path dir;

    private static Map<String, String> read(byte[] tar) throws IOException {
        Map<String, String> files = new LinkedHashMap<>();
        TarGz.forEachFile(new ByteArrayInputStream(tar), (name, size, content) -> {
            String text = new String(content.readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(size, text.getBytes(StandardCharsets.UTF_8).length);
            files.put(name, text);
        });
        return files;
    }

    @Test
    void readsRegularFilesAndSkipsTheRest() throws IOException {
        String big = "x".repeat(1500);
        byte[] tar = new TarBuilder()
                .entry("package/", '5', new byte[0])
                .file("package/a.txt", "alpha\n")
                .file("./package/big", big)
                .entry("package/link", '2', new byte[0])
                .file("package/empty", "")
                .tar();
        assertEquals(Map.of("package/a.txt", "alpha\n", "package/big", big, "package/empty", ""), read(tar));
    }

    @Test
    void longNamesFromPaxAndGnuHeaders() throws IOException {
        String longName = "package/" + "d".repeat(120) + "/file.txt";
        byte[] tar = new TarBuilder().paxFile(longName, "pax").gnuLongNameFile(longName + "2", "gnu")
                .file("after", "plain").tar();
        assertEquals(Map.of(longName, "pax", longName + "2", "gnu", "after", "plain"), read(tar));
    }

    @Test
    void aVisitorNeedNotReadTheWholeEntry() throws IOException {
        byte[] tar = new TarBuilder().file("a", "a".repeat(2000)).file("b", "bee").tar();
        Map<String, String> seen = new LinkedHashMap<>();
        TarGz.forEachFile(new ByteArrayInputStream(tar), (name, size, content) ->
                seen.put(name, name.equals("a") ? "" + (char) content.read() : new String(content.readAllBytes())));
        assertEquals(Map.of("a", "a", "b", "bee"), seen);
    }

    @Test
    void refusesNamesThatLeaveTheArchive() {
        for (String name : new String[] {"../evil", "/etc/passwd", "package/../../evil", "a\\b", "C:/x", "a//b"}) {
            byte[] tar = new TarBuilder().file(name, "x").tar();
            IOException e = assertThrows(IOException.class, () -> read(tar), name);
            assertTrue(e.getMessage().contains("is not allowed"), e.getMessage());
        }
    }

    @Test
    void refusesCorruptArchives() {
        byte[] good = new TarBuilder().file("a.txt", "a".repeat(1000)).tar();
        byte[] badChecksum = good.clone();
        badChecksum[0] = 'b';
        assertTrue(assertThrows(IOException.class, () -> read(badChecksum)).getMessage().contains("checksum"));
        byte[] truncatedBody = Arrays.copyOf(good, 512 + 700);
        EOFException e = assertThrows(EOFException.class, () -> read(truncatedBody));
        assertTrue(e.getMessage().contains("a.txt"), e.getMessage());
        byte[] truncatedHeader = Arrays.copyOf(good, 100);
        assertThrows(EOFException.class, () -> read(truncatedHeader));
        byte[] hugeSize = new TarBuilder().raw(TarBuilder.header("huge", '0', 077777777777L)).tar();
        assertThrows(IOException.class, () -> read(hugeSize));
        byte[] badPax = new TarBuilder().entry("p", 'x', "99 path=x\n".getBytes(StandardCharsets.UTF_8))
                .file("a", "a").tar();
        assertTrue(assertThrows(IOException.class, () -> read(badPax)).getMessage().contains("pax"));
    }

    @Test
    void extractsWholeOrNotAtAll() throws IOException {
        Path tgz = new TarBuilder().file("package/a.txt", "alpha").file("package/sub/b.txt", "beta")
                .writeTgz(dir.resolve("ok.tgz"));
        Path target = dir.resolve("out/ok");
        assertEquals(target, TarGz.extract(tgz, target));
        assertEquals("alpha", Files.readString(target.resolve("package/a.txt")));
        assertEquals("beta", Files.readString(target.resolve("package/sub/b.txt")));
        assertThrows(FileAlreadyExistsException.class, () -> TarGz.extract(tgz, target));

        Path evil = new TarBuilder().file("package/a.txt", "alpha").file("../evil", "x")
                .writeTgz(dir.resolve("evil.tgz"));
        Path refused = dir.resolve("out/evil");
        assertThrows(IOException.class, () -> TarGz.extract(evil, refused));
        assertFalse(Files.exists(refused));
        try (Stream<Path> left = Files.list(dir.resolve("out"))) {
            assertEquals(1, left.count(), "only the first extraction remains");
        }
        assertFalse(Files.exists(dir.resolve("out/evil")));
        assertFalse(Files.exists(dir.resolve("evil")));
    }

    @Test
    void notGzipIsAClearError() throws IOException {
        Path notGzip = Files.writeString(dir.resolve("x.tgz"), "plain text");
        IOException e = assertThrows(IOException.class, () -> TarGz.forEachFile(notGzip, (n, s, c) -> { }));
        assertTrue(e.getMessage().contains("not a gzip file"), e.getMessage());
    }
}
