package io.attn4j.attention;

import io.attn4j.tensor.Layout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * What an attention call computes, apart from its tensors. Immutable; each method returns a changed copy:
 * {@code AttentionSpec.causal().scale(0.125f).returnLse()}.
 *
 * <p><b>Reference semantics</b> (what {@code reference} computes in float64, and every exact kernel matches):
 * <pre>
 *   for each batch b, query head h (KV head h / (Hq / Hkv)), query i:
 *     s_j  = scoreMod(scale · q[b,i,h] · k[b,j,kvh], b, h, i, j)      for the keys j visible under mask
 *     p_j  = exp(s_j − max s) / Σ exp(s − max s)
 *     o[b,i,h] = Σ_j p_j v[b,j,kvh]          (0 when no key is visible)
 *     lse[b,h,i] = log Σ_j exp(s_j)          (−∞ when no key is visible)
 * </pre>
 * The mask is {@code causal() AND mask} when both are set, aligned bottom-right as {@link MaskMod} describes. The
 * scale defaults to {@code 1/√D}.
 *
 * <p><b>Non-finite inputs are rejected</b> by default: a NaN or infinity in Q, K or V raises an exception naming
 * the tensor and the element, before anything is written. The scan is O(n·d), negligible beside prefill; callers
 * that guarantee finite inputs themselves (a KV cache checks on append) turn it off with
 * {@link #checkFinite(boolean) checkFinite(false)}, after which non-finite inputs give unspecified outputs.
 */
public final class AttentionSpec {
    private final boolean causal;
    private final float scale;
    private final MaskMod mask;
    private final ScoreMod scoreMod;
    private final Layout layout;
    private final boolean returnLse;
    private final List<Observer> observers;
    private final boolean checkFinite;

    private AttentionSpec(boolean causal, float scale, MaskMod mask, ScoreMod scoreMod, Layout layout,
                          boolean returnLse, List<Observer> observers, boolean checkFinite) {
        this.causal = causal;
        this.scale = scale;
        this.mask = mask;
        this.scoreMod = scoreMod;
        this.layout = layout;
        this.returnLse = returnLse;
        this.observers = observers;
        this.checkFinite = checkFinite;
    }

    /** Causal attention (bottom-right aligned), BSHD layout, default scale. */
    public static AttentionSpec causal() {
        return new AttentionSpec(true, Float.NaN, null, null, Layout.BSHD, false, List.of(), true);
    }

    /** Every key visible, BSHD layout, default scale. */
    public static AttentionSpec noncausal() {
        return new AttentionSpec(false, Float.NaN, null, null, Layout.BSHD, false, List.of(), true);
    }

    /** This spec with the logit scale {@code scale} (finite and non-zero) instead of {@code 1/√D}. */
    public AttentionSpec scale(float newScale) {
        if (!Float.isFinite(newScale) || newScale == 0f) {
            throw new IllegalArgumentException("scale = " + newScale + "; allowed: finite and non-zero");
        }
        return new AttentionSpec(causal, newScale, mask, scoreMod, layout, returnLse, observers, checkFinite);
    }

    /** This spec with causal masking on or off. */
    public AttentionSpec causal(boolean newCausal) {
        return new AttentionSpec(newCausal, scale, mask, scoreMod, layout, returnLse, observers, checkFinite);
    }

    /** This spec with a mask (ANDed with causal when causal is on); {@code null} removes it. */
    public AttentionSpec mask(MaskMod newMask) {
        return new AttentionSpec(causal, scale, newMask, scoreMod, layout, returnLse, observers, checkFinite);
    }

    /** This spec with a score mod; {@code null} removes it. */
    public AttentionSpec scoreMod(ScoreMod newScoreMod) {
        return new AttentionSpec(causal, scale, mask, newScoreMod, layout, returnLse, observers, checkFinite);
    }

    /** This spec with the operands (and the output) in {@code newLayout}. */
    public AttentionSpec layout(Layout newLayout) {
        return new AttentionSpec(causal, scale, mask, scoreMod, Objects.requireNonNull(newLayout, "layout"),
                returnLse, observers, checkFinite);
    }

    /** This spec also returning the log-sum-exp of each query's logits. */
    public AttentionSpec returnLse() {
        return new AttentionSpec(causal, scale, mask, scoreMod, layout, true, observers, checkFinite);
    }

    /** This spec also computing {@code newObservers} (added to any already requested). */
    public AttentionSpec observe(Observer... newObservers) {
        List<Observer> all = new ArrayList<>(observers);
        for (Observer o : newObservers) {
            Objects.requireNonNull(o, "observer");
            if (all.stream().anyMatch(e -> e.getClass() == o.getClass())) {
                throw new IllegalArgumentException("observer " + o + " requested twice; each observer at most once");
            }
            all.add(o);
        }
        return new AttentionSpec(causal, scale, mask, scoreMod, layout, returnLse, List.copyOf(all), checkFinite);
    }

    /** This spec with the non-finite input check on (the default) or off (see the class comment). */
    public AttentionSpec checkFinite(boolean check) {
        return new AttentionSpec(causal, scale, mask, scoreMod, layout, returnLse, observers, check);
    }

    public boolean isCausal() {
        return causal;
    }

    /** The logit scale for head dimension {@code headDim}: the one set, or {@code 1/√headDim}. */
    public float scaleFor(int headDim) {
        return Float.isNaN(scale) ? (float) (1.0 / Math.sqrt(headDim)) : scale;
    }

    /** The mask set with {@link #mask(MaskMod)}, or {@code null} (causal is separate: {@link #isCausal()}). */
    public MaskMod mask() {
        return mask;
    }

    public ScoreMod scoreMod() {
        return scoreMod;
    }

    public Layout layout() {
        return layout;
    }

    public boolean isReturnLse() {
        return returnLse;
    }

    public List<Observer> observers() {
        return observers;
    }

    public boolean isCheckFinite() {
        return checkFinite;
    }

    /** The observer of the given type, or {@code null}. */
    public <T extends Observer> T observer(Class<T> type) {
        for (Observer o : observers) {
            if (type.isInstance(o)) {
                return type.cast(o);
            }
        }
        return null;
    }

    /** The effective mask (causal AND mask), bound to the lengths; {@code null} when every key is visible. */
    public MaskMod boundMask(int queryLength, int keyLength) {
        MaskMod combined = causal ? (mask == null ? Masks.causal() : Masks.causal().and(mask)) : mask;
        return combined == null ? null : combined.bind(queryLength, keyLength);
    }

    @Override
    public String toString() {
        return "AttentionSpec[" + (causal ? "causal" : "noncausal")
                + (Float.isNaN(scale) ? "" : ", scale=" + scale)
                + (mask == null ? "" : ", mask=" + mask)
                + (scoreMod == null ? "" : ", scoreMod=" + scoreMod)
                + ", " + layout
                + (returnLse ? ", lse" : "")
                + (observers.isEmpty() ? "" : ", observers=" + Arrays.toString(observers.toArray()))
                + (checkFinite ? "" : ", unchecked") + "]";
    }
}
