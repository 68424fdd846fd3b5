package io.attn4j.models.format;

/**
 * The property every fuzz target checks: a reader ends in a successful read or an {@link IllegalArgumentException}
 * whose message names the input; any other throwable (an {@code IndexOutOfBoundsException}, a
 * {@code NegativeArraySizeException}, an {@code OutOfMemoryError}, a hang caught by the fuzzer's timeout) escapes
 * the target and is reported by Jazzer as a finding.
 */
final class FuzzChecks {
    private FuzzChecks() {
    }

    /** Fails unless {@code e}'s message starts with {@code source}, the name the reader was given. */
    static void assertClear(IllegalArgumentException e, String source) {
        String message = e.getMessage();
        if (message == null || !message.startsWith(source + ": ")) {
            throw new AssertionError("unclear error, its message should start with '" + source + ": '", e);
        }
    }
}
