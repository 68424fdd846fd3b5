package io.attn4j.models.hub;

import io.attn4j.util.FileTrees;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.GZIPInputStream;

/**
 * Reads gzip-compressed tar archives ({@code .tgz}, as the npm registry serves packages): ustar headers, with the
 * POSIX pax ({@code path}, {@code size}) and GNU long-name extensions.
 *
 * <p>Only regular files are delivered; directories, links and devices are skipped (nothing is ever linked). Every
 * header is checked before use: its checksum, sizes within {@value #MAX_ENTRY_BYTES} bytes, and a name that stays
 * inside the archive (no absolute path, no {@code ..} segment, no backslash, drive letter or NUL). A body cut short
 * is an {@link EOFException} naming the entry. Reading is one pass, O(archive size).
 */
public final class TarGz {
    /** The largest entry accepted (larger sizes are treated as a corrupt header). */
    public static final long MAX_ENTRY_BYTES = 1L << 34;
    /** The largest pax or GNU long-name header accepted. */
    static final int MAX_EXTENDED_HEADER_BYTES = 1 << 20;
    private static final int BLOCK = 512;

    private TarGz() {
    }

    /** Receives the regular files of an archive in order. */
    @FunctionalInterface
    public interface FileVisitor {
        /**
         * One regular file.
         *
         * @param name    its path inside the archive, {@code /}-separated, checked as the class comment says
         * @param size    its length in bytes
         * @param content exactly its bytes; need not be read to the end
         */
        void file(String name, long size, InputStream content) throws IOException;
    }

    /** Calls {@code visitor} for every regular file of the gzip-compressed tar {@code archive}. */
    public static void forEachFile(Path archive, FileVisitor visitor) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(archive), 1 << 16)) {
            forEachFile(in, visitor);
        } catch (java.util.zip.ZipException e) {
            throw new IOException(archive + " is not a gzip file: " + e.getMessage(), e);
        }
    }

    /** Calls {@code visitor} for every regular file of an uncompressed tar stream. */
    public static void forEachFile(InputStream tar, FileVisitor visitor) throws IOException {
        byte[] header = new byte[BLOCK];
        String longName = null;
        long paxSize = -1;
        while (true) {
            int n = tar.readNBytes(header, 0, BLOCK);
            if (n == 0) {
                return; // some writers omit the end-of-archive blocks
            }
            if (n < BLOCK) {
                throw new EOFException("tar: truncated header (" + n + " of 512 bytes)");
            }
            if (isZero(header)) {
                return;
            }
            checkChecksum(header);
            char type = (char) (header[156] & 0xff);
            String name = longName != null ? longName : headerName(header);
            long size = paxSize >= 0 ? paxSize : octal(header, 124, 12, "size of " + name);
            if (size > MAX_ENTRY_BYTES) {
                throw new IOException("tar entry '" + name + "' has size " + size + "; allowed: at most "
                        + MAX_ENTRY_BYTES);
            }
            longName = null;
            paxSize = -1;
            long padded = (size + BLOCK - 1) / BLOCK * BLOCK;
            switch (type) {
                case 'x', 'L' -> {
                    if (size > MAX_EXTENDED_HEADER_BYTES) {
                        throw new IOException("tar: extended header of " + size + " bytes; allowed: at most "
                                + MAX_EXTENDED_HEADER_BYTES);
                    }
                    byte[] data = readFully(tar, (int) size, "extended header");
                    skip(tar, padded - size, "extended header");
                    if (type == 'L') {
                        longName = cString(data, 0, data.length);
                    } else {
                        Pax pax = Pax.parse(data);
                        longName = pax.path;
                        paxSize = pax.size;
                    }
                }
                case '0', '\0', '7' -> {
                    String checked = checkName(name);
                    BoundedInputStream content = new BoundedInputStream(tar, size, checked);
                    visitor.file(checked, size, content);
                    content.skipRest();
                    skip(tar, padded - size, checked);
                }
                default -> skip(tar, padded, name); // directories, links, devices, global pax headers
            }
        }
    }

    /**
     * Extracts the regular files of {@code archive} into a new directory {@code target}, whole or not at all: the
     * files are written into a temp directory beside {@code target}, which is then renamed. If {@code target}
     * appears meanwhile (another process), that one is kept.
     *
     * @return {@code target}
     * @throws FileAlreadyExistsException if {@code target} exists before the call
     */
    public static Path extract(Path archive, Path target) throws IOException {
        if (Files.exists(target)) {
            throw new FileAlreadyExistsException(target.toString(), null, "extraction target exists");
        }
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempDirectory(parent, target.getFileName() + ".");
        try {
            forEachFile(archive, (name, size, content) -> {
                Path file = temp.resolve(name).normalize();
                if (!file.startsWith(temp) || file.equals(temp)) {
                    throw new IOException("tar entry '" + name + "' escapes the extraction directory");
                }
                Files.createDirectories(file.getParent());
                try (OutputStream out = Files.newOutputStream(file)) {
                    content.transferTo(out);
                }
            });
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
                // another process extracted the same archive first: keep its copy
            }
            return target;
        } finally {
            FileTrees.delete(temp);
        }
    }


    private static String headerName(byte[] h) {
        String name = cString(h, 0, 100);
        boolean ustar = h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r';
        if (ustar && h[262] == 0) { // POSIX ustar has a prefix field; GNU ("ustar  ") uses those bytes otherwise
            String prefix = cString(h, 345, 155);
            if (!prefix.isEmpty()) {
                name = prefix + "/" + name;
            }
        }
        return name;
    }

    /** The name, checked: relative, {@code /}-separated, without {@code .} or {@code ..} segments. */
    static String checkName(String name) throws IOException {
        String stripped = name.startsWith("./") ? name.substring(2) : name;
        boolean bad = stripped.isEmpty() || stripped.startsWith("/") || stripped.indexOf('\\') >= 0
                || stripped.indexOf('\0') >= 0 || (stripped.length() > 1 && stripped.charAt(1) == ':');
        for (String segment : stripped.split("/", -1)) {
            bad |= segment.equals("..") || segment.equals(".") || segment.isEmpty();
        }
        if (bad) {
            throw new IOException("tar entry name '" + name + "' is not allowed: an entry must be a relative path"
                    + " inside the archive (no leading '/', '..', '\\\\', drive letter or NUL)");
        }
        return stripped;
    }

    private static void checkChecksum(byte[] h) throws IOException {
        long stored = octal(h, 148, 8, "header checksum");
        long unsigned = 0;
        long signed = 0;
        for (int i = 0; i < BLOCK; i++) {
            int b = i >= 148 && i < 156 ? ' ' : h[i];
            unsigned += b & 0xff;
            signed += b;
        }
        if (stored != unsigned && stored != signed) {
            throw new IOException("tar: header checksum " + stored + " does not match " + unsigned
                    + " (not a tar archive, or a corrupt one)");
        }
    }

    /** An octal number field (NUL- or space-terminated), or a base-256 one (high bit of the first byte set). */
    private static long octal(byte[] h, int offset, int length, String what) throws IOException {
        if ((h[offset] & 0x80) != 0) {
            if ((h[offset] & 0x40) != 0) {
                throw new IOException("tar: negative " + what);
            }
            long v = h[offset] & 0x3f;
            for (int i = 1; i < length; i++) {
                if (v > (Long.MAX_VALUE >> 8)) {
                    throw new IOException("tar: " + what + " overflows");
                }
                v = (v << 8) | (h[offset + i] & 0xff);
            }
            return v;
        }
        long v = 0;
        int i = offset;
        int end = offset + length;
        while (i < end && (h[i] == ' ' || h[i] == 0)) {
            i++;
        }
        int digits = 0;
        for (; i < end && h[i] >= '0' && h[i] <= '7'; i++, digits++) {
            if (digits >= 21) {
                throw new IOException("tar: " + what + " overflows");
            }
            v = v * 8 + (h[i] - '0');
        }
        for (; i < end; i++) {
            if (h[i] != ' ' && h[i] != 0) {
                throw new IOException("tar: " + what + " is not an octal number");
            }
        }
        return v;
    }

    private static String cString(byte[] b, int offset, int length) {
        int end = offset;
        while (end < offset + length && b[end] != 0) {
            end++;
        }
        return new String(b, offset, end - offset, StandardCharsets.UTF_8);
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    private static byte[] readFully(InputStream in, int n, String what) throws IOException {
        byte[] data = in.readNBytes(n);
        if (data.length < n) {
            throw new EOFException("tar: " + what + " truncated (" + data.length + " of " + n + " bytes)");
        }
        return data;
    }

    private static void skip(InputStream in, long n, String what) throws IOException {
        long left = n;
        while (left > 0) {
            long skipped = in.skip(left);
            if (skipped <= 0) {
                if (in.read() < 0) {
                    throw new EOFException("tar: entry '" + what + "' truncated (" + (n - left) + " of " + n
                            + " bytes)");
                }
                skipped = 1;
            }
            left -= skipped;
        }
    }

    /** The fields of a pax extended header that matter here. */
    private record Pax(String path, long size) {
        static Pax parse(byte[] data) throws IOException {
            String path = null;
            long size = -1;
            int at = 0;
            while (at < data.length) {
                int space = at;
                long length = 0;
                while (space < data.length && data[space] >= '0' && data[space] <= '9' && length < data.length) {
                    length = length * 10 + (data[space] - '0');
                    space++;
                }
                if (space >= data.length || data[space] != ' ' || length <= space - at || at + length > data.length
                        || data[(int) (at + length - 1)] != '\n') {
                    throw new IOException("tar: malformed pax header record at byte " + at);
                }
                String record = new String(data, space + 1, (int) (at + length - 1 - space - 1),
                        StandardCharsets.UTF_8);
                int eq = record.indexOf('=');
                if (eq < 0) {
                    throw new IOException("tar: malformed pax header record '" + record + "'");
                }
                String key = record.substring(0, eq);
                String value = record.substring(eq + 1);
                if (key.equals("path")) {
                    path = value;
                } else if (key.equals("size")) {
                    try {
                        size = Long.parseLong(value);
                    } catch (NumberFormatException e) {
                        throw new IOException("tar: pax size '" + value + "' is not a number");
                    }
                    if (size < 0) {
                        throw new IOException("tar: pax size " + size + " is negative");
                    }
                }
                at += (int) length;
            }
            return new Pax(path, size);
        }
    }

    /** The bytes of one entry: reads stop at its end. */
    private static final class BoundedInputStream extends InputStream {
        private final InputStream in;
        private final long size;
        private final String name;
        private long left;

        BoundedInputStream(InputStream in, long size, String name) {
            this.in = in;
            this.size = size;
            this.name = name;
            this.left = size;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (left == 0) {
                return -1;
            }
            if (len == 0) {
                return 0;
            }
            int n = in.read(b, off, (int) Math.min(len, left));
            if (n < 0) {
                throw new EOFException("tar: entry '" + name + "' truncated (" + (size - left) + " of " + size
                        + " bytes)");
            }
            left -= n;
            return n;
        }

        @Override
        public void close() {
            // the archive stream stays open for the next entry
        }

        void skipRest() throws IOException {
            TarGz.skip(in, left, name);
            left = 0;
        }
    }
}
