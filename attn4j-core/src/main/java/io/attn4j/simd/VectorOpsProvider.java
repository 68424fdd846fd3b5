package io.attn4j.simd;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.Optional;

/**
 * Chooses the {@link VectorOps} implementation, once per JVM.
 *
 * <p>The Panama implementation is used only when all of these hold; otherwise the scalar one is used and one line
 * says why and how to enable SIMD:
 * <ul>
 *   <li>the {@code jdk.incubator.vector} module is in the boot layer ({@code --add-modules jdk.incubator.vector});
 *   <li>the VM is HotSpot (the Vector API is intrinsified only by C2; elsewhere it can be 100× slower);
 *   <li>C2 is on: no {@code -Xint}, no {@code -XX:TieredStopAtLevel} below 4;
 *   <li>the preferred vector holds at least 4 floats.
 * </ul>
 * The system property {@code attn4j.simd} overrides the choice: {@code scalar} forces the fallback (tests run both
 * paths this way), {@code panama} demands SIMD and fails if it is unavailable, {@code auto} is the default.
 */
public final class VectorOpsProvider {
    private static final System.Logger LOG = System.getLogger(VectorOpsProvider.class.getName());
    private static final String PANAMA_CLASS = "io.attn4j.simd.PanamaVectorOps";

    private VectorOpsProvider() {
    }

    /** The implementation this JVM uses by default. */
    public static VectorOps get() {
        return Holder.DEFAULT;
    }

    /** The scalar reference implementation. */
    public static VectorOps scalar() {
        return Holder.SCALAR;
    }

    /** The Panama implementation, if this JVM can run it (see the class comment); empty otherwise. */
    public static Optional<VectorOps> panama() {
        return Optional.ofNullable(Holder.PANAMA.ops());
    }

    /** Why the Panama implementation is unavailable, or {@code null} when it is available. */
    public static String panamaUnavailableReason() {
        return Holder.PANAMA.refusal();
    }

    /** The outcome of trying to load the Panama implementation: one of the two is {@code null}. */
    private record Probe(VectorOps ops, String refusal) {
    }

    /** Initialised on first use; a holder class avoids class-initialisation cycles. */
    private static final class Holder {
        static final VectorOps SCALAR = new ScalarVectorOps();
        static final Probe PANAMA = probePanama();
        static final VectorOps DEFAULT = choose();

        private static VectorOps choose() {
            String mode = System.getProperty("attn4j.simd", "auto").trim().toLowerCase(Locale.ROOT);
            switch (mode) {
                case "scalar":
                    return SCALAR;
                case "panama":
                    if (PANAMA.ops() == null) {
                        throw new IllegalStateException("-Dattn4j.simd=panama but SIMD is unavailable: "
                                + PANAMA.refusal());
                    }
                    return PANAMA.ops();
                case "auto":
                    if (PANAMA.ops() == null) {
                        LOG.log(System.Logger.Level.WARNING, "attn4j uses scalar kernels: " + PANAMA.refusal());
                        return SCALAR;
                    }
                    return PANAMA.ops();
                default:
                    throw new IllegalArgumentException("-Dattn4j.simd=" + mode + " is not one of auto, scalar, panama");
            }
        }

        private static Probe probePanama() {
            String refusal = refusal();
            if (refusal != null) {
                return new Probe(null, refusal);
            }
            try {
                Class<?> type = Class.forName(PANAMA_CLASS);
                VectorOps ops = (VectorOps) MethodHandles.lookup()
                        .findConstructor(type, MethodType.methodType(void.class)).invoke();
                return new Probe(ops, null);
            } catch (UnsupportedOperationException e) {
                return new Probe(null, e.getMessage());
            } catch (Throwable e) {
                return new Probe(null, "the Panama implementation failed to load: " + e);
            }
        }

        private static String refusal() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
                return "the Vector API module is missing; start java with --add-modules jdk.incubator.vector";
            }
            String vm = System.getProperty("java.vm.name", "");
            if (!vm.contains("HotSpot") && !vm.contains("OpenJDK")) {
                return "the VM is " + vm + "; the Vector API is fast only on HotSpot's C2 compiler";
            }
            for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (arg.equals("-Xint")) {
                    return "the JVM runs interpreted (-Xint); remove -Xint";
                }
                if (arg.startsWith("-XX:TieredStopAtLevel=") && !arg.endsWith("=4")) {
                    return "C2 is off (" + arg + "); remove it so the Vector API is compiled";
                }
                if (arg.equals("-XX:-UseCompiler")) {
                    return "the JIT is off (" + arg + ")";
                }
            }
            return null;
        }
    }
}
