/**
 * The logit check: linear(GAP(feature map)) must reproduce the model's own logits.
 *
 *   relError = max |diff| / max(max |W * mean(x)|, 0.01 * max |logits|, 1e-12),
 *   diff = (W * mean_positions(x) + b) - logits,
 *
 * maxima taken over every image and class of the batch. The scale is the size of W's contribution,
 * not of the logits: where the bias dominates (|b| = 1000, |W x| = 0.01), a difference as large as
 * W's whole contribution would pass a check relative to the logits; 1% of the logits stays in the
 * scale so float32 rounding of large logits does not fail it. Any non-finite logit or head value
 * fails the check (relError NaN, `nonFinite` names the first). Computed in float64 from the float32
 * features onnxruntime returned; it is a one-off check, not a hot path.
 */

/** Default bound on relError. */
export const HEAD_CHECK_TOLERANCE = 1e-4;

export interface LogitComparison {
  /** NaN when a value is not finite. */
  relError: number;
  maxAbsError: number;
  maxAbsLogit: number;
  /** max |W * mean(x)|: the size of the linear part the error is measured against. */
  maxAbsLinear: number;
  /** The first (image, class) whose logit or head value is NaN or infinite, else null. */
  nonFinite: { image: number; class: number; logit: number; head: number } | null;
}

/**
 * W * mean_positions(features) + b for a batch.
 * @param features n x HW x D (position-major)
 * @param W C x D row-major
 * @returns n x C, float64
 */
export function gapLinear(features: Float32Array, n: number, HW: number, D: number, W: Float32Array, b: Float32Array): Float64Array {
  const C = b.length;
  const out = new Float64Array(n * C);
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    mean.fill(0);
    const base = i * HW * D;
    for (let p = 0; p < HW; p++) for (let d = 0; d < D; d++) mean[d] += features[base + p * D + d];
    for (let d = 0; d < D; d++) mean[d] /= HW;
    for (let c = 0; c < C; c++) {
      let s = b[c];
      for (let d = 0; d < D; d++) s += W[c * D + d] * mean[d];
      out[i * C + c] = s;
    }
  }
  return out;
}

/** Compare head logits (from gapLinear, with bias `b`) with the model's logits (n x C). */
export function compareLogits(head: ArrayLike<number>, logits: ArrayLike<number>, b: ArrayLike<number>): LogitComparison {
  const C = b.length;
  let maxAbsError = 0;
  let maxAbsLogit = 0;
  let maxAbsLinear = 0;
  let nonFinite: LogitComparison['nonFinite'] = null;
  for (let i = 0; i < logits.length; i++) {
    const h = head[i];
    const l = logits[i];
    if (!Number.isFinite(h) || !Number.isFinite(l)) {
      nonFinite ??= { image: Math.floor(i / C), class: i % C, logit: l, head: h };
      continue;
    }
    maxAbsError = Math.max(maxAbsError, Math.abs(h - l));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(l));
    maxAbsLinear = Math.max(maxAbsLinear, Math.abs(h - b[i % C]));
  }
  const scale = Math.max(maxAbsLinear, 0.01 * maxAbsLogit, 1e-12);
  return { relError: nonFinite ? NaN : maxAbsError / scale, maxAbsError, maxAbsLogit, maxAbsLinear, nonFinite };
}

/** The reason a comparison failed, for error messages. */
export function describeComparison(cmp: LogitComparison): string {
  if (cmp.nonFinite) {
    const { image, class: c, logit, head } = cmp.nonFinite;
    return `a value is not finite (image ${image}, class ${c}: the model's logit ${logit}, W · GAP(features) + b = ${head})`;
  }
  return `relative error ${cmp.relError.toExponential(3)} (max |diff| ${cmp.maxAbsError.toExponential(3)} / max(max |W · GAP(x)| ${cmp.maxAbsLinear.toExponential(3)}, 1% of max |logit| ${cmp.maxAbsLogit.toExponential(3)}))`;
}
