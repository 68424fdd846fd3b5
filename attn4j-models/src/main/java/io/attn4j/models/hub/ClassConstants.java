package io.attn4j.models.hub;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Reads a class file's constant pool (JVMS §4.4) far enough to list the static fields it references: how attn4j
 * learns from a langchain4j embedding artifact which pooling its model uses (the model class reads
 * {@code PoolingMode.MEAN} or {@code PoolingMode.CLS}) without loading or running any of the artifact's code.
 *
 * <p>Every length and index is checked: a truncated or malformed class file is an {@link IllegalArgumentException}
 * naming the source, never an out-of-bounds read.
 */
final class ClassConstants {
    private ClassConstants() {
    }

    /**
     * The names of the fields of class {@code owner} (internal form, {@code a/b/C}) that the class file references.
     *
     * @param classFile the class file's bytes
     * @param source    a name for error messages
     */
    static Set<String> fieldsOf(byte[] classFile, String owner, String source) {
        ByteBuffer in = ByteBuffer.wrap(classFile);
        try {
            if (in.getInt() != 0xCAFEBABE) {
                throw new IllegalArgumentException(source + " is not a class file (no 0xCAFEBABE magic)");
            }
            in.getShort(); // minor
            in.getShort(); // major
            int count = Short.toUnsignedInt(in.getShort());
            int[] tag = new int[count];
            int[] a = new int[count];
            int[] b = new int[count];
            String[] utf8 = new String[count];
            for (int i = 1; i < count; i++) {
                tag[i] = Byte.toUnsignedInt(in.get());
                switch (tag[i]) {
                    case 1 -> { // Utf8: modified UTF-8; the names compared here are ASCII, which it encodes as UTF-8
                        int length = Short.toUnsignedInt(in.getShort());
                        byte[] bytes = new byte[length];
                        in.get(bytes);
                        utf8[i] = new String(bytes, StandardCharsets.UTF_8);
                    }
                    case 3, 4 -> in.getInt(); // Integer, Float
                    case 5, 6 -> { // Long, Double take two slots
                        in.getLong();
                        i++;
                    }
                    case 7, 8, 16, 19, 20 -> a[i] = Short.toUnsignedInt(in.getShort()); // Class, String, ...
                    case 9, 10, 11, 12, 17, 18 -> { // Fieldref, Methodref, InterfaceMethodref, NameAndType, ...
                        a[i] = Short.toUnsignedInt(in.getShort());
                        b[i] = Short.toUnsignedInt(in.getShort());
                    }
                    case 15 -> { // MethodHandle
                        in.get();
                        a[i] = Short.toUnsignedInt(in.getShort());
                    }
                    default -> throw new IllegalArgumentException(source + ": constant " + i + " has tag " + tag[i]
                            + "; not a valid class file");
                }
            }
            Set<String> fields = new LinkedHashSet<>();
            for (int i = 1; i < count; i++) {
                if (tag[i] != 9) {
                    continue;
                }
                int classIndex = checked(a[i], 7, tag, source), natIndex = checked(b[i], 12, tag, source);
                String className = utf8[checked(a[classIndex], 1, tag, source)];
                if (owner.equals(className)) {
                    fields.add(utf8[checked(a[natIndex], 1, tag, source)]);
                }
            }
            return fields;
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException(source + " is truncated: its constant pool runs past its "
                    + classFile.length + " bytes", e);
        }
    }

    private static int checked(int index, int expectedTag, int[] tag, String source) {
        if (index <= 0 || index >= tag.length || tag[index] != expectedTag) {
            throw new IllegalArgumentException(source + ": constant pool index " + index + " does not point to a"
                    + " constant of tag " + expectedTag + "; not a valid class file");
        }
        return index;
    }
}
