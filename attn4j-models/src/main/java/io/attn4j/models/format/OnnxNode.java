package io.attn4j.models.format;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One operator of an ONNX graph ({@code NodeProto}).
 *
 * @param name       the node's name (may be empty)
 * @param opType     the operator, e.g. {@code MatMul}, {@code LayerNormalization}, {@code Reshape}
 * @param domain     the operator set domain, empty for the default ONNX domain
 * @param inputs     the names of the values it reads, in order (an empty name is an omitted optional input)
 * @param outputs    the names of the values it produces, in order
 * @param attributes the attributes by name, in file order
 */
public record OnnxNode(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                       Map<String, OnnxAttribute> attributes) {
    public OnnxNode {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        attributes = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(attributes));
    }

    /** The attribute with this name, if the node has it. */
    public Optional<OnnxAttribute> attribute(String attributeName) {
        return Optional.ofNullable(attributes.get(attributeName));
    }
}
