package io.attn4j.models.format;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the graph of a transformer encoder exported to ONNX (BERT, MiniLM, ... from {@code torch.onnx}) says
 * beyond its weights: the attention head count and head size, the layer-norm epsilon, and which initializer holds
 * each linear layer's weight. A runtime that reads the weights needs these; the file has no {@code config.json}.
 *
 * <p>How each is found (the first rule that applies):
 * <ul>
 *   <li><b>Heads</b>: the {@code num_heads} attribute of a fused attention node (ONNX Runtime's
 *       {@code Attention}, {@code MultiHeadAttention}); else the {@code Reshape} nodes that split the hidden axis
 *       into heads, whose target shape is {@code [batch, length, heads, headSize]} — a constant, or a
 *       {@code Concat} of constants and one-element runtime values, as {@code torch.onnx} writes it. The most
 *       frequent {@code (heads, headSize)} over all such reshapes wins.</li>
 *   <li><b>Layer-norm epsilon</b>: the {@code epsilon} attribute of {@code LayerNormalization} nodes (1e-5 when
 *       absent, the operator's default); else, in a layer norm decomposed into
 *       {@code ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div}, the scalar constant added to the variance
 *       before the {@code Sqrt}. The most frequent value wins. It is a float32 constant in the file, so 1e-12
 *       reads back as {@code (double) 1e-12f}.</li>
 *   <li><b>Linear weights</b>: the exporter renames the weight of each {@code MatMul} it emits from an
 *       {@code nn.Linear} (e.g. {@code onnx::MatMul_885}); the node's own name
 *       ({@code /encoder/layer.0/attention/self/query/MatMul}) still names the module. Each {@code MatMul} or
 *       {@code Gemm} with a rank-2 initializer operand maps the module name
 *       ({@code encoder.layer.0.attention.self.query}) to that initializer and its layout.</li>
 * </ul>
 *
 * @param numHeads      attention heads per layer
 * @param headSize      the size of one head ({@code hidden / numHeads}); 0 when the graph gives only the head
 *                      count (a fused attention node)
 * @param layerNormEps  the epsilon of the layer norms
 * @param linearWeights module name to the initializer that holds its weight, in graph order
 */
public record OnnxEncoderGraph(int numHeads, int headSize, double layerNormEps,
                               Map<String, LinearWeight> linearWeights) {

    /** The default epsilon of ONNX's {@code LayerNormalization}. */
    private static final double LAYER_NORMALIZATION_DEFAULT_EPS = 1e-5;

    public OnnxEncoderGraph {
        linearWeights = Collections.unmodifiableMap(new LinkedHashMap<>(linearWeights));
    }

    /**
     * The initializer that holds a linear layer's weight.
     *
     * @param initializer the initializer's name in the file
     * @param inputMajor  true when it is stored {@code [in, out]} (a {@code MatMul} operand: the transpose of
     *                    PyTorch's {@code nn.Linear.weight}); false when stored {@code [out, in]} like PyTorch
     *                    ({@code Gemm} with {@code transB = 1})
     */
    public record LinearWeight(String initializer, boolean inputMajor) {
    }

    /**
     * Reads the facts above from {@code model}'s graph.
     *
     * @throws IllegalArgumentException naming what could not be found (no head-splitting reshape and no fused
     *                                  attention node; no layer norm)
     */
    public static OnnxEncoderGraph infer(OnnxModel model) {
        Objects.requireNonNull(model, "model");
        Map<String, OnnxTensor> constants = new HashMap<>(model.initializers());
        Map<String, OnnxNode> producers = new HashMap<>();
        for (OnnxNode node : model.nodes()) {
            for (String out : node.outputs()) {
                producers.put(out, node);
            }
            if (node.opType().equals("Constant") && node.outputs().size() == 1) {
                node.attribute("value").filter(a -> a.type() == OnnxAttribute.Type.TENSOR)
                        .ifPresent(a -> constants.put(node.outputs().get(0), a.tensorValue()));
            }
        }
        int[] heads = heads(model, constants, producers);
        double eps = layerNormEps(model, constants, producers);
        return new OnnxEncoderGraph(heads[0], heads[1], eps, linearWeights(model));
    }

    private static int[] heads(OnnxModel model, Map<String, OnnxTensor> constants, Map<String, OnnxNode> producers) {
        for (OnnxNode node : model.nodes()) {
            var attr = node.attribute("num_heads");
            if (attr.isPresent() && attr.get().type() == OnnxAttribute.Type.INT && attr.get().longValue() > 0) {
                return new int[] {(int) Math.min(Integer.MAX_VALUE, attr.get().longValue()), 0};
            }
        }
        Map<List<Long>, Integer> votes = new LinkedHashMap<>();
        for (OnnxNode node : model.nodes()) {
            if (!node.opType().equals("Reshape") || node.inputs().size() < 2) {
                continue;
            }
            long[] shape = resolveShape(node.inputs().get(1), constants, producers);
            if (shape != null && shape.length == 4 && shape[2] > 0 && shape[3] > 0
                    && shape[2] <= Integer.MAX_VALUE && shape[3] <= Integer.MAX_VALUE) {
                votes.merge(List.of(shape[2], shape[3]), 1, Integer::sum);
            }
        }
        List<Long> best = mostFrequent(votes);
        if (best == null) {
            throw new IllegalArgumentException("cannot find the head count in the graph of this model: no node has a "
                    + "num_heads attribute and no Reshape has a constant target shape [batch, length, heads, headSize]");
        }
        return new int[] {best.get(0).intValue(), best.get(1).intValue()};
    }

    /**
     * The target shape named {@code value}, with −1 for entries known only at run time, or null when it is not a
     * constant or a {@code Concat} of constants and one-element runtime values.
     */
    private static long[] resolveShape(String value, Map<String, OnnxTensor> constants,
                                       Map<String, OnnxNode> producers) {
        long[] constant = intConstant(constants.get(value));
        if (constant != null) {
            return constant;
        }
        OnnxNode concat = producers.get(value);
        if (concat == null || !concat.opType().equals("Concat") || concat.inputs().size() > 8) {
            return null;
        }
        long[] shape = new long[0];
        for (String part : concat.inputs()) {
            long[] values = intConstant(constants.get(part));
            if (values == null) {
                values = new long[] {-1}; // torch.onnx concatenates one-element Unsqueeze outputs
            }
            long[] joined = Arrays.copyOf(shape, shape.length + values.length);
            System.arraycopy(values, 0, joined, shape.length, values.length);
            shape = joined;
        }
        return shape;
    }

    private static long[] intConstant(OnnxTensor t) {
        if (t == null || !t.dataType().isInteger() || t.elementCount() > 8) {
            return null;
        }
        return t.asLongs();
    }

    private static double layerNormEps(OnnxModel model, Map<String, OnnxTensor> constants,
                                       Map<String, OnnxNode> producers) {
        Map<Double, Integer> votes = new LinkedHashMap<>();
        for (OnnxNode node : model.nodes()) {
            if (node.opType().equals("LayerNormalization")) {
                double eps = node.attribute("epsilon").filter(a -> a.type() == OnnxAttribute.Type.FLOAT)
                        .map(a -> (double) a.floatValue()).orElse(LAYER_NORMALIZATION_DEFAULT_EPS);
                votes.merge(eps, 1, Integer::sum);
            } else if (node.opType().equals("Sqrt") && node.inputs().size() == 1) {
                OnnxNode add = producers.get(node.inputs().get(0));
                if (add == null || !add.opType().equals("Add") || add.inputs().size() != 2) {
                    continue;
                }
                for (int i = 0; i < 2; i++) {
                    OnnxNode mean = producers.get(add.inputs().get(i));
                    OnnxTensor eps = constants.get(add.inputs().get(1 - i));
                    if (mean != null && mean.opType().equals("ReduceMean") && eps != null
                            && eps.dataType().isFloat() && eps.elementCount() == 1) {
                        votes.merge((double) eps.toFloatArray()[0], 1, Integer::sum);
                    }
                }
            }
        }
        Double best = mostFrequent(votes);
        if (best == null) {
            throw new IllegalArgumentException("cannot find the layer-norm epsilon in the graph of this model: no "
                    + "LayerNormalization node and no Sqrt(ReduceMean(...) + constant)");
        }
        return best;
    }

    private static Map<String, LinearWeight> linearWeights(OnnxModel model) {
        Map<String, LinearWeight> weights = new LinkedHashMap<>();
        Map<String, OnnxTensor> initializers = model.initializers();
        for (OnnxNode node : model.nodes()) {
            boolean gemm = node.opType().equals("Gemm");
            if (!(gemm || node.opType().equals("MatMul")) || node.inputs().size() < 2) {
                continue;
            }
            OnnxTensor w = initializers.get(node.inputs().get(1));
            int slash = node.name().lastIndexOf('/');
            if (w == null || w.dims().length != 2 || slash <= 0) {
                continue;
            }
            String module = node.name().substring(node.name().startsWith("/") ? 1 : 0, slash).replace('/', '.');
            boolean transB = gemm && node.attribute("transB").filter(a -> a.type() == OnnxAttribute.Type.INT)
                    .map(a -> a.longValue() != 0).orElse(false);
            weights.putIfAbsent(module, new LinearWeight(w.name(), !transB));
        }
        return weights;
    }

    private static <K> K mostFrequent(Map<K, Integer> votes) {
        K best = null;
        int count = 0;
        for (Map.Entry<K, Integer> e : votes.entrySet()) {
            if (e.getValue() > count) {
                best = e.getKey();
                count = e.getValue();
            }
        }
        return best;
    }
}
