package io.attn4j.models.corpus;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * A corpus from a directory of UTF-8 {@code .txt} files (searched recursively, in path order): one document per
 * file, or one per non-blank line.
 *
 * <p>A document's id is its file's path relative to the directory ({@code news/2024-01.txt}), with
 * {@code :<line>} (from 1) in line mode; its genre is the first directory of that path, or {@code ""} for files at
 * the top. A leading byte-order mark is dropped; bytes that are not UTF-8 are an error naming the file and the byte
 * offset. Blank documents are skipped.
 */
public final class DirectoryCorpus {
    private DirectoryCorpus() {
    }

    /**
     * The texts of {@code directory}.
     *
     * @param linePerDocument each non-blank line is a document (otherwise each file is)
     * @throws IllegalArgumentException if {@code directory} is not a directory or holds no {@code .txt} file
     * @throws IOException              if a file cannot be read or is not UTF-8
     */
    public static Corpus load(Path directory, boolean linePerDocument) throws IOException {
        if (directory == null || !Files.isDirectory(directory)) {
            throw new IllegalArgumentException("corpus directory = " + directory
                    + "; allowed: an existing directory of UTF-8 .txt files");
        }
        List<Path> files;
        try (Stream<Path> all = Files.walk(directory)) {
            files = all.filter(p -> p.getFileName().toString().endsWith(".txt") && Files.isRegularFile(p))
                    .sorted().toList();
        }
        if (files.isEmpty()) {
            throw new IllegalArgumentException("corpus directory " + directory + " holds no .txt file; allowed: a"
                    + " directory of UTF-8 .txt files");
        }
        List<Text> texts = new ArrayList<>();
        for (Path file : files) {
            Path relative = directory.relativize(file);
            String id = relative.toString().replace(file.getFileSystem().getSeparator(), "/");
            String genre = relative.getNameCount() > 1 ? relative.getName(0).toString() : "";
            String content = readUtf8(file);
            if (linePerDocument) {
                String[] lines = content.split("\\R", -1);
                for (int i = 0; i < lines.length; i++) {
                    if (!lines[i].isBlank()) {
                        texts.add(new Text(id + ":" + (i + 1), genre, lines[i].strip()));
                    }
                }
            } else if (!content.isBlank()) {
                texts.add(new Text(id, genre, content.strip()));
            }
        }
        return new Corpus(directory.toString(), texts);
    }

    /** The file decoded strictly as UTF-8, without a leading byte-order mark. */
    static String readUtf8(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (result.isError()) {
            throw new IOException(file + " is not valid UTF-8: " + result.length() + " bad byte(s) at byte offset "
                    + in.position() + "; allowed: UTF-8 text files");
        }
        decoder.flush(out);
        String text = out.flip().toString();
        return text.startsWith("\uFEFF") ? text.substring(1) : text;
    }
}
