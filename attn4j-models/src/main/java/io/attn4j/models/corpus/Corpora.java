package io.attn4j.models.corpus;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Resolves a corpus named on a command line: {@code brown} (the default) or the path of a directory of UTF-8
 * {@code .txt} files. A directory that happens to be called {@code brown} is reached as {@code ./brown}.
 */
public final class Corpora {
    /** The corpus used when none is named. */
    public static final String DEFAULT = "brown";

    private Corpora() {
    }

    /** {@link #resolve(String, boolean)} with one document per file. */
    public static Corpus resolve(String spec) throws IOException {
        return resolve(spec, false);
    }

    /**
     * The corpus {@code spec} names.
     *
     * @param spec            {@code brown}, null or blank for the Brown corpus, else a directory path
     * @param linePerDocument for a directory: each non-blank line of each file is a document
     * @throws IllegalArgumentException if {@code spec} is neither {@code brown} nor a directory
     */
    public static Corpus resolve(String spec, boolean linePerDocument) throws IOException {
        if (spec == null || spec.isBlank() || spec.strip().equals(DEFAULT)) {
            return BrownCorpus.load();
        }
        Path directory = Path.of(spec.strip());
        if (!Files.isDirectory(directory)) {
            throw new IllegalArgumentException("corpus = '" + spec + "' is neither 'brown' nor a directory; allowed:"
                    + " brown, or a directory of UTF-8 .txt files");
        }
        return DirectoryCorpus.load(directory, linePerDocument);
    }
}
