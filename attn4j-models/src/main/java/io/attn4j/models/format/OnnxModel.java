package io.attn4j.models.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * An ONNX model file ({@code ModelProto}) read for its weights and its graph's structure: the initializers, the
 * nodes with their attributes, and the graph's inputs and outputs. It does not run the graph.
 *
 * <p>The file is memory-mapped ({@link FileChannel#map} into a {@link MemorySegment} of a shared {@link Arena}),
 * so files over 2 GB work and float32 weights in {@code raw_data} are {@link io.attn4j.tensor.Tensor} views of
 * the mapping, not copies (see {@link OnnxTensor}). Views stay valid until {@link #close()}; they may be read from
 * any thread.
 *
 * <p>What is read, and the choices made:
 * <ul>
 *   <li>From {@code ModelProto}: {@code ir_version}, the producer, {@code opset_import} and the graph; the rest
 *       (doc strings, metadata, functions, training info) is skipped. A model must have exactly one graph.</li>
 *   <li>From the graph: nodes, initializers (names must be unique), inputs and outputs. {@code value_info},
 *       sparse initializers and subgraphs (attributes of type GRAPH) are skipped.</li>
 *   <li>Tensors: name, data type, dims (each in {@code [0, 2^63)}, their product must not overflow), and where
 *       the values are. The number of values present is checked against the dims for every supported type,
 *       so a tensor that opened can be read. External data ({@code data_location = EXTERNAL}) is resolved
 *       relative to the model's directory when the model is opened: {@code location} must be a relative path
 *       inside that directory ({@code ..} and absolute paths are refused), {@code offset} and {@code length}
 *       must lie inside the file, and the file is mapped once however many tensors it holds.</li>
 * </ul>
 * A truncated or corrupt file throws {@link ModelFormatException} naming the file, the message path
 * ({@code ModelProto.graph.initializer[3]}), the field and the byte offset; nothing is allocated from a declared
 * length before it is known to fit. The graph's structure (nodes, attributes, names) is kept on the heap, in
 * memory proportional to its encoded size; weights stay in the file.
 *
 * <p>{@link #withExtraOutputs} writes a copy of a model whose graph declares more outputs, so a peer runtime (ONNX
 * Runtime) can be asked for intermediate values such as per-layer hidden states.
 */
public final class OnnxModel implements AutoCloseable {
    /** The ONNX data_location value of external data. */
    private static final int EXTERNAL = 1;

    private final String source;
    private final Path directory;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<Path, MemorySegment> externalFiles = new HashMap<>();

    private long irVersion;
    private String producerName = "";
    private String producerVersion = "";
    private final Map<String, Long> opsetImports = new LinkedHashMap<>();
    private String graphName = "";
    private final Map<String, OnnxTensor> initializers = new LinkedHashMap<>();
    private final List<OnnxNode> nodes = new ArrayList<>();
    private final List<OnnxValueInfo> inputs = new ArrayList<>();
    private final List<OnnxValueInfo> outputs = new ArrayList<>();
    /** Where the graph field is: its key, and its payload {@code [graphStart, graphEnd)}. */
    private long graphKeyOffset = -1;
    private long graphStart;
    private long graphEnd;

    private OnnxModel(String source, Path directory, Arena arena, MemorySegment file) {
        this.source = source;
        this.directory = directory;
        this.arena = arena;
        this.file = file;
    }

    /**
     * Maps and reads the model at {@code path}; external data is looked up in its directory.
     *
     * @throws ModelFormatException if the file is not a valid ONNX model this reader can read
     * @throws IOException          if the file cannot be read
     */
    public static OnnxModel open(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapped = MappedFiles.readOnly(path, arena);
            Path directory = path.toAbsolutePath().getParent();
            OnnxModel model = new OnnxModel(String.valueOf(path.getFileName()), directory, arena, mapped);
            model.readModel();
            return model;
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    /**
     * Reads a model that is already in memory. Its tensors are views of {@code model}, valid while it is;
     * external data files, if any, are mapped from {@code externalDataDirectory} until {@link #close()}.
     *
     * @param externalDataDirectory where external data lives, or {@code null} to refuse external data
     * @param source                the name used in error messages
     */
    public static OnnxModel read(MemorySegment model, Path externalDataDirectory, String source) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(source, "source");
        Arena arena = Arena.ofShared();
        try {
            OnnxModel m = new OnnxModel(source,
                    externalDataDirectory == null ? null : externalDataDirectory.toAbsolutePath(), arena, model);
            m.readModel();
            return m;
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    /** The graph's initializers (weights and constants) by name, in file order. */
    public Map<String, OnnxTensor> initializers() {
        return Collections.unmodifiableMap(initializers);
    }

    /** The initializer with this name. */
    public OnnxTensor initializer(String name) {
        OnnxTensor t = initializers.get(name);
        if (t == null) {
            throw new IllegalArgumentException(source + " has no initializer named '" + name + "' (it has "
                    + initializers.size() + ")");
        }
        return t;
    }

    /** The graph's nodes in file order (ONNX requires topological order). */
    public List<OnnxNode> nodes() {
        return Collections.unmodifiableList(nodes);
    }

    /** The graph's declared inputs (older models list their initializers here too). */
    public List<OnnxValueInfo> inputs() {
        return Collections.unmodifiableList(inputs);
    }

    /** The graph's declared outputs. */
    public List<OnnxValueInfo> outputs() {
        return Collections.unmodifiableList(outputs);
    }

    /** {@code ModelProto.ir_version}. */
    public long irVersion() {
        return irVersion;
    }

    /** {@code ModelProto.producer_name} and {@code producer_version}, e.g. {@code "pytorch 2.0.1"}. */
    public String producer() {
        return producerVersion.isEmpty() ? producerName : producerName + " " + producerVersion;
    }

    /** The operator set version of each imported domain (the default ONNX domain is {@code ""}). */
    public Map<String, Long> opsetImports() {
        return Collections.unmodifiableMap(opsetImports);
    }

    /** The graph's name. */
    public String graphName() {
        return graphName;
    }

    /** Unmaps the file and any external data; views of them must not be read afterwards. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    // ---------------------------------------------------------------- ModelProto and GraphProto

    private void readModel() {
        Protobuf model = Protobuf.of(file, source, "ModelProto");
        while (model.next()) {
            switch (model.field()) {
                case 1 -> irVersion = model.varint();
                case 2 -> producerName = model.string();
                case 3 -> producerVersion = model.string();
                case 7 -> {
                    if (graphKeyOffset >= 0) {
                        throw model.error("a second graph; a model has one graph");
                    }
                    graphKeyOffset = model.fieldOffset();
                    Protobuf graph = model.message("graph");
                    graphStart = graph.position();
                    graphEnd = graph.end();
                    readGraph(graph);
                }
                case 8 -> readOpset(model.message("opset_import[" + opsetImports.size() + "]"));
                default -> { }
            }
        }
        if (graphKeyOffset < 0) {
            throw new ModelFormatException(source + ": ModelProto has no graph (field 7); this is not an ONNX model"
                    + " or it is truncated (" + file.byteSize() + " bytes)");
        }
    }

    private void readOpset(Protobuf opset) {
        String domain = "";
        long version = 0;
        while (opset.next()) {
            switch (opset.field()) {
                case 1 -> domain = opset.string();
                case 2 -> version = opset.varint();
                default -> { }
            }
        }
        opsetImports.put(domain, version);
    }

    private void readGraph(Protobuf graph) {
        while (graph.next()) {
            switch (graph.field()) {
                case 1 -> nodes.add(readNode(graph.message("node[" + nodes.size() + "]")));
                case 2 -> graphName = graph.string();
                case 5 -> {
                    long at = graph.fieldOffset();
                    OnnxTensor t = readTensor(graph.message("initializer[" + initializers.size() + "]"));
                    if (initializers.putIfAbsent(t.name(), t) != null) {
                        throw new ModelFormatException(source + ": ModelProto.graph: a second initializer named '"
                                + t.name() + "'; initializer names are unique (at byte offset " + at + ")");
                    }
                }
                case 11 -> inputs.add(readValueInfo(graph.message("input[" + inputs.size() + "]")));
                case 12 -> outputs.add(readValueInfo(graph.message("output[" + outputs.size() + "]")));
                default -> { }
            }
        }
    }

    private OnnxNode readNode(Protobuf node) {
        String name = "";
        String opType = "";
        String domain = "";
        List<String> in = new ArrayList<>();
        List<String> out = new ArrayList<>();
        Map<String, OnnxAttribute> attributes = new LinkedHashMap<>();
        while (node.next()) {
            switch (node.field()) {
                case 1 -> in.add(node.string());
                case 2 -> out.add(node.string());
                case 3 -> name = node.string();
                case 4 -> opType = node.string();
                case 7 -> domain = node.string();
                case 5 -> {
                    long at = node.fieldOffset();
                    OnnxAttribute a = readAttribute(node.message("attribute[" + attributes.size() + "]"));
                    if (attributes.putIfAbsent(a.name(), a) != null) {
                        throw new ModelFormatException(source + ": " + node.path() + ": a second attribute named '"
                                + a.name() + "' (at byte offset " + at + ")");
                    }
                }
                default -> { }
            }
        }
        return new OnnxNode(name, opType, domain, in, out, attributes);
    }

    private OnnxAttribute readAttribute(Protobuf attribute) {
        String name = "";
        OnnxAttribute.Type type = OnnxAttribute.Type.UNDEFINED;
        OnnxAttribute.Type present = OnnxAttribute.Type.UNDEFINED;
        Float f = null;
        Long i = null;
        String s = null;
        OnnxTensor t = null;
        FloatList floats = new FloatList(attribute.path() + ".floats");
        LongList ints = new LongList(attribute.path() + ".ints");
        List<String> strings = new ArrayList<>();
        List<OnnxTensor> tensors = new ArrayList<>();
        while (attribute.next()) {
            switch (attribute.field()) {
                case 1 -> name = attribute.string();
                case 20 -> type = OnnxAttribute.Type.ofCode(attribute.varint());
                case 2 -> {
                    f = attribute.float32();
                    present = OnnxAttribute.Type.FLOAT;
                }
                case 3 -> {
                    i = attribute.varint();
                    present = OnnxAttribute.Type.INT;
                }
                case 4 -> {
                    s = attribute.string();
                    present = OnnxAttribute.Type.STRING;
                }
                case 5 -> {
                    t = readTensor(attribute.message("t"));
                    present = OnnxAttribute.Type.TENSOR;
                }
                case 6 -> present = OnnxAttribute.Type.GRAPH;
                case 7 -> {
                    attribute.forEachFixed32(bits -> floats.add(Float.intBitsToFloat(bits)));
                    present = OnnxAttribute.Type.FLOATS;
                }
                case 8 -> {
                    attribute.forEachVarint(ints::add);
                    present = OnnxAttribute.Type.INTS;
                }
                case 9 -> {
                    strings.add(attribute.string());
                    present = OnnxAttribute.Type.STRINGS;
                }
                case 10 -> {
                    tensors.add(readTensor(attribute.message("tensors[" + tensors.size() + "]")));
                    present = OnnxAttribute.Type.TENSORS;
                }
                default -> { }
            }
        }
        if (type == OnnxAttribute.Type.UNDEFINED) {
            type = present;
        }
        Object value = switch (type) {
            case FLOAT -> f != null ? f : 0f;
            case INT -> i != null ? i : 0L;
            case STRING -> s != null ? s : "";
            case TENSOR -> t;
            case FLOATS -> floats.toArray();
            case INTS -> ints.toArray();
            case STRINGS -> List.copyOf(strings);
            case TENSORS -> List.copyOf(tensors);
            default -> null;
        };
        if (type == OnnxAttribute.Type.TENSOR && t == null) {
            throw new ModelFormatException(source + ": " + attribute.path() + ": attribute '" + name
                    + "' is of type TENSOR but has no tensor (field 5)");
        }
        return new OnnxAttribute(name, type, value);
    }

    private OnnxValueInfo readValueInfo(Protobuf info) {
        String name = "";
        OnnxDataType elementType = OnnxDataType.UNDEFINED;
        List<String> shape = new ArrayList<>();
        while (info.next()) {
            switch (info.field()) {
                case 1 -> name = info.string();
                case 2 -> {
                    Protobuf type = info.message("type");
                    while (type.next()) {
                        if (type.field() != 1) {
                            continue;
                        }
                        Protobuf tensor = type.message("tensor_type");
                        while (tensor.next()) {
                            switch (tensor.field()) {
                                case 1 -> elementType = OnnxDataType.ofCode(tensor.varint());
                                case 2 -> readShape(tensor.message("shape"), shape);
                                default -> { }
                            }
                        }
                    }
                }
                default -> { }
            }
        }
        return new OnnxValueInfo(name, elementType, shape);
    }

    private static void readShape(Protobuf shapeProto, List<String> shape) {
        shape.clear();
        while (shapeProto.next()) {
            if (shapeProto.field() != 1) {
                continue;
            }
            Protobuf dim = shapeProto.message("dim[" + shape.size() + "]");
            String value = "?";
            while (dim.next()) {
                switch (dim.field()) {
                    case 1 -> value = Long.toString(dim.varint());
                    case 2 -> value = dim.string();
                    default -> { }
                }
            }
            shape.add(value);
        }
    }

    // ---------------------------------------------------------------- TensorProto

    private OnnxTensor readTensor(Protobuf tensor) {
        long messageStart = tensor.position();
        String name = "";
        int code = 0;
        LongList dims = new LongList(tensor.path() + ".dims");
        MemorySegment raw = null;
        long rawOffset = -1;
        long dataLocation = 0;
        Map<String, String> externalData = new LinkedHashMap<>();
        long[] typedCounts = new long[12];
        boolean segmented = false;
        while (tensor.next()) {
            int field = tensor.field();
            switch (field) {
                case 1 -> tensor.forEachVarint(dims::add);
                case 2 -> code = tensor.int32();
                case 3 -> segmented = true;
                case 8 -> name = tensor.string();
                case 9 -> {
                    rawOffset = tensor.fieldOffset();
                    raw = tensor.bytes();
                }
                case 13 -> readEntry(tensor.message("external_data[" + externalData.size() + "]"), externalData);
                case 14 -> dataLocation = tensor.varint();
                case OnnxDataType.FLOAT_DATA -> typedCounts[field] += tensor.repeatedCount(Protobuf.I32);
                case OnnxDataType.DOUBLE_DATA -> typedCounts[field] += tensor.repeatedCount(Protobuf.I64);
                case OnnxDataType.INT32_DATA, OnnxDataType.INT64_DATA, OnnxDataType.UINT64_DATA ->
                        typedCounts[field] += tensor.repeatedCount(Protobuf.VARINT);
                default -> { }
            }
        }
        String what = source + ": " + tensor.path() + ": tensor '" + name + "'";
        OnnxDataType type = OnnxDataType.ofCode(code);
        long[] shape = dims.toArray();
        long count = elementCount(shape, what);
        boolean external = dataLocation == EXTERNAL;
        if (!type.supported() || segmented) {
            // Listed with its name and dims; toFloat()/asLongs() refuse it by type. Chunked (segment) tensors
            // are never written by exporters today and are not read.
            return new OnnxTensor(name, segmented ? OnnxDataType.UNKNOWN : type, code, shape, count,
                    null, external, tensor, file, messageStart);
        }
        long bytes = multiply(count, type.byteSize(), what);
        int typedField = type.typedField();
        for (int f = 0; f < typedCounts.length; f++) {
            if (typedCounts[f] != 0 && (f != typedField || raw != null || external)) {
                throw new ModelFormatException(what + " of type " + type + " has " + typedCounts[f]
                        + " values in field " + f + (raw != null ? " as well as raw_data" : external
                        ? " as well as external data" : "; ONNX stores " + type + " in field " + typedField
                        + " or raw_data"));
            }
        }
        if (external) {
            if (raw != null) {
                throw new ModelFormatException(what + " has both raw_data (at byte offset " + rawOffset
                        + ") and external data");
            }
            raw = externalData(externalData, bytes, what);
        } else if (raw != null) {
            if (raw.byteSize() != bytes) {
                throw new ModelFormatException(what + " of type " + type + " and dims " + Arrays.toString(shape)
                        + " needs " + bytes + " bytes of raw_data but has " + raw.byteSize()
                        + " (at byte offset " + rawOffset + ")");
            }
        } else if (typedCounts[typedField] != count) {
            throw new ModelFormatException(what + " of type " + type + " and dims " + Arrays.toString(shape)
                    + " needs " + count + " values but field " + typedField + " has " + typedCounts[typedField]);
        }
        return new OnnxTensor(name, type, code, shape, count, raw, external, tensor, file, messageStart);
    }

    private static void readEntry(Protobuf entry, Map<String, String> into) {
        String key = "";
        String value = "";
        while (entry.next()) {
            switch (entry.field()) {
                case 1 -> key = entry.string();
                case 2 -> value = entry.string();
                default -> { }
            }
        }
        into.put(key, value);
    }

    private static long elementCount(long[] dims, String what) {
        long count = 1;
        for (long d : dims) {
            if (d < 0) {
                throw new ModelFormatException(what + " has dims " + Arrays.toString(dims)
                        + "; dims must be >= 0");
            }
            count = multiply(count, d, what);
        }
        return count;
    }

    private static long multiply(long a, long b, String what) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new ModelFormatException(what + ": the size " + a + " x " + b + " overflows a 64-bit count");
        }
    }

    /** The slice of an external data file that {@code entries} (location, offset, length) point to. */
    private MemorySegment externalData(Map<String, String> entries, long bytes, String what) {
        String location = entries.get("location");
        if (location == null) {
            throw new ModelFormatException(what + " has data_location EXTERNAL but no 'location' in external_data");
        }
        long offset = nonNegative(entries.getOrDefault("offset", "0"), "offset", what);
        long length = entries.containsKey("length") ? nonNegative(entries.get("length"), "length", what) : bytes;
        if (length != bytes) {
            throw new ModelFormatException(what + " needs " + bytes + " bytes but its external_data length is "
                    + length);
        }
        MemorySegment data = externalFile(location, what);
        if (offset > data.byteSize() || length > data.byteSize() - offset) {
            throw new ModelFormatException(what + ": external data [" + offset + ", +" + length + ") is outside '"
                    + location + "' of " + data.byteSize() + " bytes");
        }
        return data.asSlice(offset, length);
    }

    private static long nonNegative(String text, String key, String what) {
        long value;
        try {
            value = Long.parseLong(text.strip());
        } catch (NumberFormatException e) {
            value = -1;
        }
        if (value < 0) {
            throw new ModelFormatException(what + ": external_data " + key + " '" + text
                    + "' is not a non-negative decimal integer");
        }
        return value;
    }

    /** Maps (once) the external data file at {@code location}, which must lie inside the model's directory. */
    private MemorySegment externalFile(String location, String what) {
        if (directory == null) {
            throw new ModelFormatException(what + " has external data ('" + location
                    + "') but the model was read without a directory for it");
        }
        checkLocation(location, what);
        Path path;
        try {
            path = directory.resolve(location).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw new ModelFormatException(what + ": external data location '" + location + "' is not a valid path", e);
        }
        if (!path.startsWith(directory.normalize())) {
            throw new ModelFormatException(what + ": external data location '" + location
                    + "' is outside the model's directory");
        }
        MemorySegment mapped = externalFiles.get(path);
        if (mapped == null) {
            try {
                mapped = MappedFiles.readOnly(path, arena);
            } catch (IOException | UnsupportedOperationException e) {
                throw new ModelFormatException(what + ": cannot read external data file '" + location + "' in "
                        + directory + ": " + e, e);
            }
            externalFiles.put(path, mapped);
        }
        return mapped;
    }

    /** Refuses absolute locations and {@code ..} before the text becomes a path. */
    private static void checkLocation(String location, String what) {
        boolean bad = location.isEmpty() || location.indexOf('\0') >= 0 || location.startsWith("/")
                || location.startsWith("\\") || (location.length() > 1 && location.charAt(1) == ':');
        for (String part : location.split("[/\\\\]")) {
            bad |= part.equals("..");
        }
        if (bad) {
            throw new ModelFormatException(what + ": external data location '" + location
                    + "' must be a relative path inside the model's directory, without '..'");
        }
    }

    // ---------------------------------------------------------------- extra outputs

    /**
     * Writes a copy of the model at {@code in} to {@code out} whose graph also declares {@code valueNames} as
     * outputs, each as a FLOAT tensor (the element type ONNX Runtime needs to accept a graph output). See
     * {@link #withExtraOutputs(Path, Path, Map)}.
     */
    public static void withExtraOutputs(Path in, Path out, List<String> valueNames) throws IOException {
        Map<String, OnnxDataType> typed = new LinkedHashMap<>();
        for (String name : valueNames) {
            if (typed.put(Objects.requireNonNull(name, "value name"), OnnxDataType.FLOAT) != null) {
                throw new IllegalArgumentException("valueNames lists '" + name + "' twice");
            }
        }
        withExtraOutputs(in, out, typed);
    }

    /**
     * Writes a copy of the model at {@code in} to {@code out} whose graph also declares the given values as
     * outputs (a {@code ValueInfoProto} with the name and a tensor type of the given element type, no shape).
     *
     * <p>Only the {@code graph} field of {@code ModelProto} is re-encoded, by appending the new outputs to the
     * graph's bytes (repeated fields keep their order, so the existing outputs come first); every other byte is
     * copied verbatim. Each name must be produced by a node or be a graph input or initializer, and must not
     * already be an output. The file is written to a temporary file and moved into place.
     *
     * @throws IllegalArgumentException if a name is unknown, already an output, or its type is not a tensor type
     */
    public static void withExtraOutputs(Path in, Path out, Map<String, OnnxDataType> valueTypes) throws IOException {
        Objects.requireNonNull(out, "out");
        try (OnnxModel model = open(in)) {
            Set<String> known = new LinkedHashSet<>(model.initializers.keySet());
            model.inputs.forEach(v -> known.add(v.name()));
            model.nodes.forEach(n -> known.addAll(n.outputs()));
            Set<String> existing = new LinkedHashSet<>();
            model.outputs.forEach(v -> existing.add(v.name()));
            ProtobufWriter extra = new ProtobufWriter();
            for (Map.Entry<String, OnnxDataType> e : valueTypes.entrySet()) {
                String name = e.getKey();
                OnnxDataType type = e.getValue();
                if (!known.contains(name)) {
                    throw new IllegalArgumentException("value '" + name + "' is not produced by any node of "
                            + model.source + " nor a graph input or initializer");
                }
                if (existing.contains(name)) {
                    throw new IllegalArgumentException("value '" + name + "' is already an output of " + model.source);
                }
                if (type == null || type.code() <= 0) {
                    throw new IllegalArgumentException("value '" + name + "' has element type " + type
                            + "; an output needs an ONNX tensor element type");
                }
                ProtobufWriter tensorType = new ProtobufWriter().varintField(1, type.code());
                ProtobufWriter typeProto = new ProtobufWriter().messageField(1, tensorType);
                ProtobufWriter valueInfo = new ProtobufWriter().stringField(1, name).messageField(2, typeProto);
                extra.messageField(12, valueInfo);
            }
            byte[] appended = extra.toByteArray();
            MemorySegment file = model.file;
            long payload = model.graphEnd - model.graphStart;
            byte[] key = new ProtobufWriter().key(7, Protobuf.LEN).varint(payload + appended.length).toByteArray();
            AtomicFiles.write(out, channel -> {
                AtomicFiles.writeFully(channel, file.asSlice(0, model.graphKeyOffset));
                AtomicFiles.writeFully(channel, ByteBuffer.wrap(key));
                AtomicFiles.writeFully(channel, file.asSlice(model.graphStart, payload));
                AtomicFiles.writeFully(channel, ByteBuffer.wrap(appended));
                AtomicFiles.writeFully(channel, file.asSlice(model.graphEnd));
            });
        }
    }

    // ---------------------------------------------------------------- growable primitive lists

    /**
     * Lists of dims and attribute values longer than this are refused: real models have a few dims and short
     * attribute lists, and the limit keeps a corrupt file from turning a few bytes per value into gigabytes.
     */
    static final int MAX_LIST = 1 << 24;

    /** A growable {@code long[]}; it grows with values actually read, never with a declared count. */
    private final class LongList {
        private final String what;
        private long[] values = new long[8];
        private int size;

        LongList(String what) {
            this.what = what;
        }

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(size, what));
            }
            values[size++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    /** A growable {@code float[]}; it grows with values actually read, never with a declared count. */
    private final class FloatList {
        private final String what;
        private float[] values = new float[8];
        private int size;

        FloatList(String what) {
            this.what = what;
        }

        void add(float v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, grow(size, what));
            }
            values[size++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private int grow(int size, String what) {
        if (size >= MAX_LIST) {
            throw new ModelFormatException(source + ": " + what + " has more than " + MAX_LIST
                    + " values; this reader keeps lists of dims and attribute values up to that length");
        }
        return Math.min(MAX_LIST, size * 2);
    }
}
