package io.attn4j.models.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Writes small tar archives by hand for tests: ustar headers, pax and GNU long-name entries, raw corruption. */
public final class TarBuilder {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** A regular file. */
    public TarBuilder file(String name, String content) {
        return entry(name, '0', content.getBytes(StandardCharsets.UTF_8));
    }

    /** An entry of any type with a name that fits the 100-byte field. */
    public TarBuilder entry(String name, char type, byte[] content) {
        out.writeBytes(header(name, type, content.length));
        out.writeBytes(content);
        out.writeBytes(new byte[(512 - content.length % 512) % 512]);
        return this;
    }

    /** A regular file whose long name is carried by a pax extended header. */
    public TarBuilder paxFile(String name, String content) {
        String record = "path=" + name + "\n";
        int length = record.length() + 3;
        while ((length + " " + record).length() != length) {
            length++;
        }
        entry("PaxHeaders/x", 'x', (length + " " + record).getBytes(StandardCharsets.UTF_8));
        return file("short-name", content);
    }

    /** A regular file whose long name is carried by a GNU 'L' entry. */
    public TarBuilder gnuLongNameFile(String name, String content) {
        entry("././@LongLink", 'L', (name + "\0").getBytes(StandardCharsets.UTF_8));
        return file("short-name", content);
    }

    /** Raw bytes appended as they are (for corrupt archives). */
    public TarBuilder raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    /** The archive with its two end blocks. */
    public byte[] tar() {
        ByteArrayOutputStream copy = new ByteArrayOutputStream();
        copy.writeBytes(out.toByteArray());
        copy.writeBytes(new byte[1024]);
        return copy.toByteArray();
    }

    /** The gzip-compressed archive written to {@code file}. */
    public Path writeTgz(Path file) throws IOException {
        return writeTgz(file, tar());
    }

    /** Gzip-compresses {@code tar} into {@code file}. */
    public static Path writeTgz(Path file, byte[] tar) throws IOException {
        try (OutputStream gz = new GZIPOutputStream(Files.newOutputStream(file))) {
            gz.write(tar);
        }
        return file;
    }

    /** A ustar header with a correct checksum. */
    public static byte[] header(String name, char type, long size) {
        byte[] h = new byte[512];
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(n, 0, h, 0, Math.min(100, n.length));
        put(h, 100, "0000644");
        put(h, 108, "0000000");
        put(h, 116, "0000000");
        put(h, 124, String.format("%011o", size));
        put(h, 136, "00000000000");
        h[156] = (byte) type;
        put(h, 257, "ustar");
        put(h, 263, "00");
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        int sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        put(h, 148, String.format("%06o", sum));
        h[154] = 0;
        h[155] = ' ';
        return h;
    }

    private static void put(byte[] h, int offset, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, offset, b.length);
    }
}
