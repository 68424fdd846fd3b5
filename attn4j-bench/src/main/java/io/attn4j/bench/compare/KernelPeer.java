package io.attn4j.bench.compare;

import io.attn4j.attention.Pattern;
import io.attn4j.bench.KernelBench;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.tensor.Tensor;

/**
 * An attention implementation outside attn4j, timed at the same shapes as the kernels (ONNX Runtime's attention
 * operator, PyTorch): one instance per shape, opened by {@link #open}, closed after its measurement.
 */
public interface KernelPeer {

    /** The name in the report ({@code ort-mha}). */
    String name();

    /** Why the peer cannot run on this machine, or null when it can. */
    String unavailableReason();

    /** Whether it computes this pattern. */
    boolean supports(Pattern pattern);

    /** Why it does not run this shape (too much memory, say), or null when it does. */
    default String skipReason(InputShape shape) {
        return null;
    }

    /** A runnable instance for these inputs (BSHD, {@code causal} bottom-right aligned), with the given threads. */
    Call open(AttentionInputs in, boolean causal, float scale, int threads);

    /** One prepared shape: {@link #run} is what is timed. */
    interface Call extends AutoCloseable {
        /** Computes the attention of the prepared inputs. */
        void run();

        /** The output of the last run, {@code [B, Lq, H, Dv]}. */
        Tensor output();

        /** Min, median and max milliseconds of {@link #run} under {@code protocol}; a peer may time itself. */
        default double[] time(KernelBench.Protocol protocol) {
            return KernelBench.time(this::run, protocol);
        }

        @Override
        void close();
    }
}
