package io.attn4j.models.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DirectoryCorpusTest {
    @TempDir
    Path dir;

    @Test
    void oneDocumentPerFileWithGenresFromDirectories() throws IOException {
        Files.writeString(dir.resolve("top.txt"), "\uFEFFTop text.\n");
        Files.createDirectories(dir.resolve("news"));
        Files.writeString(dir.resolve("news/b.txt"), "Second.\n\nParagraph é.");
        Files.writeString(dir.resolve("news/a.txt"), "First.");
        Files.writeString(dir.resolve("news/blank.txt"), " \n ");
        Files.writeString(dir.resolve("notes.md"), "ignored");
        Corpus corpus = Corpora.resolve(dir.toString());
        assertEquals(List.of(new Text("news/a.txt", "news", "First."),
                new Text("news/b.txt", "news", "Second.\n\nParagraph é."),
                new Text("top.txt", "", "Top text.")), corpus.texts());
    }

    @Test
    void oneDocumentPerLine() throws IOException {
        Files.writeString(dir.resolve("lines.txt"), "first line\r\n\n  second line  \nthird");
        Corpus corpus = Corpora.resolve(dir.toString(), true);
        assertEquals(List.of(new Text("lines.txt:1", "", "first line"), new Text("lines.txt:3", "", "second line"),
                new Text("lines.txt:4", "", "third")), corpus.texts());
    }

    @Test
    void invalidUtf8NamesTheFileAndOffset() throws IOException {
        Path bad = Files.write(dir.resolve("bad.txt"), new byte[] {'o', 'k', ' ', (byte) 0xC3, '(', 'x'});
        IOException e = assertThrows(IOException.class, () -> DirectoryCorpus.load(dir, false));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("byte offset 3"),
                e.getMessage());
    }

    @Test
    void refusesWhatIsNotACorpus() throws IOException {
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> DirectoryCorpus.load(dir, false));
        assertTrue(empty.getMessage().contains("no .txt file"), empty.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> Corpora.resolve(dir.resolve("missing").toString()));
        assertTrue(missing.getMessage().contains("neither 'brown' nor a directory"), missing.getMessage());
    }
}
