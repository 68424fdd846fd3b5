package io.attn4j.bench.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ONNX Runtime running a BERT-family encoder graph: the native peer of {@code bench model} and of the parity tests.
 * Never used by attn4j's runtime.
 *
 * <p>The session is configured as an in-process user would run it at its fastest on a CPU: all graph
 * optimisations, {@code threads} intra-op threads, one inter-op thread, sequential execution. A batch is padded to
 * its longest text with {@code attention_mask = 0} (ORT has no packed variable-length input for this graph); the
 * outputs are the hidden states of every requested output name, padding rows dropped.
 */
public final class OrtEncoder implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final Set<String> inputs;
    private final int threads;

    /**
     * @param onnx    the model file
     * @param threads intra-op threads
     */
    public OrtEncoder(Path onnx, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads = " + threads + "; allowed: >= 1");
        }
        this.threads = threads;
        this.env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            this.session = env.createSession(onnx.toString(), options);
            this.inputs = session.getInputNames();
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot load " + onnx + ": " + e.getMessage(), e);
        }
        if (!inputs.contains("input_ids") || !inputs.contains("attention_mask")) {
            throw new IllegalArgumentException(onnx + " has inputs " + inputs
                    + "; a BERT encoder graph needs input_ids and attention_mask");
        }
    }

    public int threads() {
        return threads;
    }

    /** The names of the graph's outputs, in order. */
    public List<String> outputNames() {
        return List.copyOf(session.getOutputNames());
    }

    /**
     * Runs one batch.
     *
     * @param ids     token ids per text, special tokens included
     * @param outputs the output names to fetch (each {@code [batch, n, width]})
     * @return per output, per text, its rows packed: {@code [n_b · width]}
     */
    public Map<String, float[][]> run(int[][] ids, List<String> outputs) {
        int batch = ids.length, n = 0;
        for (int[] row : ids) {
            n = Math.max(n, row.length);
        }
        long[] idData = new long[batch * n], maskData = new long[batch * n];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < ids[b].length; t++) {
                idData[b * n + t] = ids[b][t];
                maskData[b * n + t] = 1;
            }
        }
        long[] shape = {batch, n};
        Map<String, OnnxTensor> feed = new HashMap<>();
        try {
            feed.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(idData), shape));
            feed.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(maskData), shape));
            if (inputs.contains("token_type_ids")) {
                feed.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[batch * n]), shape));
            }
            try (OrtSession.Result result = session.run(feed, Set.copyOf(outputs))) {
                Map<String, float[][]> out = new HashMap<>();
                for (String name : outputs) {
                    OnnxTensor t = (OnnxTensor) result.get(name).orElseThrow(
                            () -> new IllegalArgumentException("no output " + name + "; outputs: " + outputNames()));
                    long[] dims = t.getInfo().getShape();
                    if (dims.length != 3 || dims[0] != batch || dims[1] != n) {
                        throw new IllegalStateException("output " + name + " has shape " + java.util.Arrays.toString(dims)
                                + "; expected [" + batch + ", " + n + ", width]");
                    }
                    int width = (int) dims[2];
                    FloatBuffer data = t.getFloatBuffer();
                    float[][] rows = new float[batch][];
                    for (int b = 0; b < batch; b++) {
                        rows[b] = new float[ids[b].length * width];
                        data.get(b * n * width, rows[b]);
                    }
                    out.put(name, rows);
                }
                return out;
            }
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }
}
