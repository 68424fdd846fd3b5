package io.attn4j.bench.compare;

import io.attn4j.bench.KernelBench;
import io.attn4j.bench.MachinePeak;
import io.attn4j.bench.peers.OrtAttentionPeer;
import io.attn4j.catalog.Catalog;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * compare's kernel section over every mechanism of the catalog and the ONNX Runtime peer, on every pattern each
 * declares, at two short lengths: no row claims more than 100 % of the machine's FMA peak or of the bandwidth it
 * reaches on the row's working set. Work is counted as each mechanism computes it; crediting every mechanism with
 * the mask's area (as the sweep once did) put block-topk NC at 163 %, aaren CC at 148 % and hip CC at 137 % of the
 * peak at 512 tokens here (measured with the old rule on this sweep).
 */
class LimitsTest {

    @Test
    void noRowOfTheKernelSectionExceedsTheMachinesLimits() {
        MachinePeak peak = MachinePeak.measure(2);
        CompareConfig config = CompareConfig.defaults(true, Path.of("unused"))
                .withLengths(new int[] {256, 512})
                .withShape(2, 32)
                .withDecodeShape(4, 2, 32)
                .withThreads(2)
                .withTiming(5.0, new KernelBench.Protocol(0.1, 1, 0, 3, 0, 5));
        List<KernelSweep.Point> points = new KernelSweep(config, peak, List.of(new OrtAttentionPeer())).run(s -> { });
        List<KernelSweep.Point> ok = points.stream().filter(p -> p.status().equals("ok")).toList();
        assertEquals(Catalog.all().size() - 1, ok.stream().map(KernelSweep.Point::mechanism)
                .filter(m -> !m.equals("ort-attention")).distinct().count(), "every mechanism but the oracle measured");
        String worst = ok.stream().sorted((a, b) -> Double.compare(b.result().pctPeak(), a.result().pctPeak())).limit(3)
                .map(p -> String.format(Locale.ROOT, "%s %s %d: %.1f %% of peak", p.mechanism(), p.pattern().id(),
                        p.n(), p.result().pctPeak())).collect(Collectors.joining("; "));
        for (KernelSweep.Point p : ok) {
            KernelBench.Result r = p.result();
            String what = p.mechanism() + " " + p.pattern().id() + " n=" + p.n() + " (" + r.work().rule() + ")";
            assertTrue(r.pctPeak() > 0 && r.pctPeak() <= 100, what + ": " + r.pctPeak() + " % of peak; worst " + worst);
            assertTrue(r.pctBandwidth() > 0 && r.pctBandwidth() <= 100, what + ": " + r.pctBandwidth()
                    + " % of " + r.bandwidthLimit() + " GB/s");
        }
    }
}
