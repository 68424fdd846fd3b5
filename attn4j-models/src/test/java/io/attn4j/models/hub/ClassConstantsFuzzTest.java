package io.attn4j.models.hub;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

/**
 * Fuzzes the class-file constant-pool reader that reads a langchain4j artifact's pooling: any bytes must end in a
 * set of field names or an {@link IllegalArgumentException} naming the class file. Seeds are a minimal class file
 * and the real model class of all-MiniLM-L6-v2's artifact (on the test class path). Fuzzed by the
 * {@code fuzz-class-constants} surefire execution; the default run replays the seeds.
 */
class ClassConstantsFuzzTest {
    private static final String SOURCE = "Model.class";

    static Stream<byte[]> seeds() throws java.io.IOException {
        try (var in = ClassConstantsFuzzTest.class.getResourceAsStream(
                "/dev/langchain4j/model/embedding/onnx/allminilml6v2/AllMiniLmL6V2EmbeddingModel.class")) {
            return Stream.of(MavenArtifactTest.classFile("MEAN"), in.readAllBytes());
        }
    }

    @MethodSource("seeds")
    @FuzzTest(maxDuration = "25s")
    void readAnyClassFile(byte[] input) {
        try {
            ClassConstants.fieldsOf(input, "dev/langchain4j/model/embedding/onnx/PoolingMode", SOURCE);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() == null || !e.getMessage().startsWith(SOURCE)) {
                throw new AssertionError("unclear error, its message should start with '" + SOURCE + "'", e);
            }
        }
    }
}
