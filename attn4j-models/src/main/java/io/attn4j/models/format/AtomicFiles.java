package io.attn4j.models.format;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a file so that readers see either the old file or the complete new one: the content goes to a temporary
 * file in the same directory, is forced to disk, and is then moved over the target (atomically where the file
 * system allows). On any failure the temporary file is deleted and the target is untouched.
 */
final class AtomicFiles {
    /** Segments are written in slices of at most this many bytes (a ByteBuffer holds at most 2 GB). */
    private static final long CHUNK = 1L << 30;

    private AtomicFiles() {
    }

    /** What writes the content. */
    @FunctionalInterface
    interface Body {
        void writeTo(FileChannel channel) throws IOException;
    }

    static void write(Path target, Body body) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path directory = absolute.getParent();
        Files.createDirectories(directory);
        // not Files.createTempFile: its owner-only permissions would stay on the finished file; this one gets the umask's
        Path temp = directory.resolve("." + absolute.getFileName() + "." + java.util.UUID.randomUUID() + ".tmp");
        boolean moved = false;
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                body.writeTo(channel);
                channel.force(true);
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, absolute, StandardCopyOption.REPLACE_EXISTING);
            }
            moved = true;
        } finally {
            if (!moved) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Writes all of {@code segment} at the channel's position. */
    static void writeFully(FileChannel channel, MemorySegment segment) throws IOException {
        for (long at = 0; at < segment.byteSize(); at += CHUNK) {
            writeFully(channel, segment.asSlice(at, Math.min(CHUNK, segment.byteSize() - at)).asByteBuffer());
        }
    }

    /** Writes all remaining bytes of {@code buffer} at the channel's position. */
    static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
