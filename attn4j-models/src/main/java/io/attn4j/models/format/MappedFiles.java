package io.attn4j.models.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Files mapped read-only into memory, the way every reader of this package takes its bytes (zero copy). */
final class MappedFiles {
    private MappedFiles() {
    }

    /** The whole of {@code path}, mapped read-only and valid while {@code arena} is open. */
    static MemorySegment readOnly(Path path, Arena arena) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        }
    }
}
