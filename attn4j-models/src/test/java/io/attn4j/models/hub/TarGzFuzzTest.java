package io.attn4j.models.hub;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.attn4j.models.testing.TarBuilder;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.stream.Stream;

/**
 * Fuzzes the tar reader ({@link TarGz#forEachFile(java.io.InputStream, TarGz.FileVisitor)}, the npm corpus
 * package's format): any bytes must give their files or an {@link IOException} with a message — never an
 * {@code IndexOutOfBoundsException}, a huge allocation or a hang. Every delivered file's content is read to its end
 * and must be exactly its announced size. Seeds are small archives of ustar, GNU long-name and pax entries. Fuzzed by
 * the {@code fuzz-tar} surefire execution; the default run replays the seeds.
 */
class TarGzFuzzTest {
    static Stream<byte[]> seeds() {
        return Stream.of(new TarBuilder().file("package/a.txt", "hello").file("package/b/c", "").tar(),
                new TarBuilder().gnuLongNameFile("package/" + "long-name/".repeat(20) + "x.txt", "body").tar(),
                new TarBuilder().paxFile("package/pax-name.txt", "pax body").entry("package/d", '5', new byte[0])
                        .tar());
    }

    @MethodSource("seeds")
    @DictionaryEntries({"ustar\u000000", "ustar  \u0000", "././@LongLink", "path=", "size=", "00000000000",
            "0000644\u0000", "package/", ".."})
    @FuzzTest(maxDuration = "20s")
    void readAnyTar(byte[] input) {
        try {
            TarGz.forEachFile(new ByteArrayInputStream(input), (name, size, content) -> {
                byte[] body = content.readAllBytes();
                if (body.length != size) {
                    throw new AssertionError("entry " + name + " announced " + size + " bytes, delivered "
                            + body.length);
                }
            });
        } catch (IOException e) {
            if (e.getMessage() == null || e.getMessage().isEmpty()) {
                throw new AssertionError("tar refusal without a message", e);
            }
        }
    }
}
