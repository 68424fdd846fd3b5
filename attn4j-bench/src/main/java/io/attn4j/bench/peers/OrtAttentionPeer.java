package io.attn4j.bench.peers;

import io.attn4j.attention.Pattern;
import io.attn4j.bench.compare.KernelPeer;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.tensor.Tensor;

/**
 * {@link OrtAttention} as a {@code compare} kernel peer: ONNX Runtime's fastest CPU attention operator for each
 * shape (its Javadoc says which and why), timed on {@link OrtAttention#run()} — inputs already in its buffers, as
 * attn4j's kernels are timed with their inputs in place.
 */
public final class OrtAttentionPeer implements KernelPeer {
    private volatile String unavailable;
    private volatile boolean probed;

    @Override
    public String name() {
        return "ort-attention";
    }

    @Override
    public String unavailableReason() {
        if (!probed) {
            try {
                ai.onnxruntime.OrtEnvironment.getEnvironment();
                unavailable = null;
            } catch (RuntimeException | LinkageError e) {
                unavailable = "ONNX Runtime does not load on this machine: " + e.getMessage();
            }
            probed = true;
        }
        return unavailable;
    }

    @Override
    public boolean supports(Pattern pattern) {
        return true;
    }

    @Override
    public String skipReason(InputShape shape) {
        if (shape.kvHeads() != shape.heads()) {
            return "grouped-query shapes (" + shape.heads() + " query heads over " + shape.kvHeads() + " KV heads) "
                    + "are not built for ONNX Runtime's operators here";
        }
        if (shape.valueDim() != shape.headDim()) {
            return "a value dimension unlike the head dimension is not built for ONNX Runtime's operators here";
        }
        return null;
    }

    @Override
    public Call open(AttentionInputs in, boolean causal, float scale, int threads) {
        Tensor q = in.q(), k = in.k(), v = in.v();
        OrtAttention ort = new OrtAttention(q.size(0), q.size(1), k.size(1), q.size(2), q.size(3), causal, scale,
                threads);
        try {
            ort.prepare(q, k, v);
        } catch (RuntimeException e) {
            ort.close();
            throw e;
        }
        return new Call() {
            @Override
            public void run() {
                ort.run();
            }

            @Override
            public Tensor output() {
                return ort.output();
            }

            @Override
            public void close() {
                ort.close();
            }
        };
    }
}
