package io.attn4j.models.format;

import java.util.List;

/**
 * A graph input or output of an ONNX model ({@code ValueInfoProto}): its name, and its element type and shape
 * when it is declared as a tensor.
 *
 * @param name        the value's name
 * @param elementType the element type, {@link OnnxDataType#UNDEFINED} when the type is not a declared tensor
 * @param shape       one entry per axis: the size ({@code "384"}), the symbolic name ({@code "batch_size"}) or
 *                    {@code "?"} when neither is given; empty when no shape is declared or for a scalar
 */
public record OnnxValueInfo(String name, OnnxDataType elementType, List<String> shape) {
    public OnnxValueInfo {
        shape = List.copyOf(shape);
    }
}
