package io.attn4j.bench.peers;

import io.attn4j.attention.Pattern;
import io.attn4j.bench.KernelBench;
import io.attn4j.bench.compare.KernelPeer;
import io.attn4j.inputs.AttentionInputs;
import io.attn4j.inputs.InputShape;
import io.attn4j.tensor.Tensor;
import io.attn4j.util.FileTrees;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * PyTorch on the CPU as a kernel peer: exact attention written the usual way, {@code softmax(Q·Kᵀ·scale + mask)·V}
 * with {@code torch.matmul} (Debian's {@code python3-torch}), on the same inputs as attn4j's kernels and with the
 * same threads ({@code torch.set_num_threads}). Optional: without python3 or torch it reports why and is skipped.
 *
 * <p>The inputs are handed over as raw float32 files; a Python process ({@code torch_attention.py}, bundled) loads
 * them once and then answers commands: {@code time} runs the same warm-up and timing protocol as
 * {@link KernelBench#time} inside Python (so the pipe's latency is not timed), {@code output} writes the result
 * for the error against the reference. The score matrix is materialised ({@code B·H·Lq·Lk} floats), so shapes
 * that would need more than {@value #MAX_SCORE_BYTES_GB} GB for it are skipped.
 */
public final class TorchAttention implements KernelPeer {
    /** The largest score matrix attempted, in GB (PyTorch holds it and its softmax at once). */
    public static final int MAX_SCORE_BYTES_GB = 2;

    private final List<String> candidates;
    private volatile String python;
    private volatile String unavailable;
    private volatile boolean probed;

    /**
     * A peer running the first Python that imports torch among {@code $ATTN4J_PYTHON}, {@code python3} on the PATH
     * and Debian's {@code /usr/bin/python3} (where {@code python3-torch} installs, even when the PATH's python3 is
     * another one).
     */
    public TorchAttention() {
        this(System.getenv("ATTN4J_PYTHON") != null ? List.of(System.getenv("ATTN4J_PYTHON"))
                : List.of("python3", "/usr/bin/python3"));
    }

    TorchAttention(String python) {
        this(List.of(python));
    }

    private TorchAttention(List<String> candidates) {
        this.candidates = candidates;
    }

    @Override
    public String name() {
        return "torch";
    }

    @Override
    public String unavailableReason() {
        if (!probed) {
            unavailable = probe();
            probed = true;
        }
        return unavailable;
    }

    private String probe() {
        String first = null;
        for (String candidate : candidates) {
            String reason = probe(candidate);
            if (reason == null) {
                python = candidate;
                return null;
            }
            first = first == null ? reason : first;
        }
        return first;
    }

    private static String probe(String python) {
        try {
            Process p = new ProcessBuilder(python, "-c", "import torch; print(torch.__version__)")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return python + " did not answer within 60 s";
            }
            if (p.exitValue() != 0) {
                return out.contains("No module named") ? "python3-torch is not installed (apt-get install "
                        + "python3-torch)" : python + " cannot import torch: " + lastLine(out);
            }
            return null;
        } catch (IOException e) {
            return python + " is not installed (apt-get install python3 python3-torch)";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while looking for PyTorch";
        }
    }

    @Override
    public boolean supports(Pattern pattern) {
        return true;
    }

    @Override
    public String skipReason(InputShape s) {
        double gb = 4.0 * s.batch() * s.heads() * s.queryLength() * s.keyLength() / 1e9;
        return gb > MAX_SCORE_BYTES_GB ? String.format(Locale.ROOT, "the score matrix would take %.1f GB, over the "
                + "%d GB this peer attempts", gb, MAX_SCORE_BYTES_GB) : null;
    }

    @Override
    public Call open(AttentionInputs in, boolean causal, float scale, int threads) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new IllegalStateException("torch peer unavailable: " + reason);
        }
        try {
            return new TorchCall(in, causal, scale, threads);
        } catch (IOException e) {
            throw new UncheckedIOException("torch peer: " + e.getMessage(), e);
        }
    }

    private final class TorchCall implements Call {
        private final Path dir;
        private final Process process;
        private final BufferedReader replies;
        private final Writer commands;
        private final int batch, queries, heads, dv;

        TorchCall(AttentionInputs in, boolean causal, float scale, int threads) throws IOException {
            Tensor q = in.q(), k = in.k(), v = in.v();
            batch = q.size(0);
            queries = q.size(1);
            heads = q.size(2);
            dv = v.size(3);
            dir = Files.createTempDirectory("attn4j-torch");
            boolean started = false;
            try {
                write(dir.resolve("q.f32"), q);
                write(dir.resolve("k.f32"), k);
                write(dir.resolve("v.f32"), v);
                Path script = dir.resolve("torch_attention.py");
                try (InputStream s = TorchAttention.class.getResourceAsStream("torch_attention.py")) {
                    Files.copy(s, script);
                }
                List<String> command = List.of(python, script.toString(), dir.toString(), Integer.toString(batch),
                        Integer.toString(queries), Integer.toString(k.size(1)), Integer.toString(heads),
                        Integer.toString(k.size(2)), Integer.toString(q.size(3)), Integer.toString(dv),
                        causal ? "1" : "0", Float.toString(scale), Integer.toString(threads));
                process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
                replies = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
                started = true;
            } finally {
                if (!started) {
                    FileTrees.delete(dir);
                }
            }
        }

        private static void write(Path file, Tensor t) throws IOException {
            float[] data = t.toArray(); // row-major, whatever the tensor's strides
            ByteBuffer bytes = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asFloatBuffer().put(data);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                while (bytes.hasRemaining()) {
                    ch.write(bytes);
                }
            }
        }

        private String ask(String command) {
            try {
                commands.write(command + "\n");
                commands.flush();
                String reply = replies.readLine();
                if (reply == null || reply.startsWith("error")) {
                    throw new IllegalStateException("PyTorch: " + (reply == null ? "the process ended" : reply));
                }
                return reply;
            } catch (IOException e) {
                throw new UncheckedIOException("PyTorch: " + e.getMessage(), e);
            }
        }

        @Override
        public void run() {
            KernelBench.Protocol once = new KernelBench.Protocol(0, 1, 0, 1, 0, 1);
            time(once);
        }

        @Override
        public double[] time(KernelBench.Protocol p) {
            String[] w = ask(String.format(Locale.ROOT, "time %d %s %d %s %d", p.warmCalls(), p.warmSeconds(),
                    p.minCalls(), p.minSeconds(), p.maxCalls())).split(" ");
            if (w.length != 4 || !w[0].equals("ms")) {
                throw new IllegalStateException("PyTorch: unexpected reply '" + String.join(" ", w) + "'");
            }
            return new double[] {Double.parseDouble(w[1]), Double.parseDouble(w[2]), Double.parseDouble(w[3])};
        }

        @Override
        public Tensor output() {
            ask("output");
            try {
                ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("out.f32")))
                        .order(ByteOrder.LITTLE_ENDIAN);
                float[] data = new float[batch * queries * heads * dv];
                if (bytes.remaining() != data.length * 4) {
                    throw new IllegalStateException("PyTorch wrote " + bytes.remaining() + " bytes of output; expected "
                            + data.length * 4);
                }
                bytes.asFloatBuffer().get(data);
                return Tensor.of(data, batch, queries, heads, dv);
            } catch (IOException e) {
                throw new UncheckedIOException("PyTorch output: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            try {
                commands.write("quit\n");
                commands.flush();
            } catch (IOException ignored) {
                // the process has gone already
            }
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
            try {
                FileTrees.delete(dir);
            } catch (IOException ignored) {
                // a temporary directory left behind is harmless
            }
        }
    }

    private static String lastLine(String s) {
        String[] lines = s.split("\n");
        return lines[lines.length - 1];
    }
}
