/**
 * The logit check: linear(GAP(feature map)) must reproduce the model's own logits.
 *
 *   relError = max |diff| / max(1e-12, max |logits|), diff = (W * mean_positions(x) + b) - logits,
 *
 * maxima taken over every image and class of the batch. Computed in float64 from the float32
 * features onnxruntime returned; it is a one-off check, not a hot path.
 */

/** Default bound on relError. */
export const HEAD_CHECK_TOLERANCE = 1e-4;

export interface LogitComparison {
  relError: number;
  maxAbsError: number;
  maxAbsLogit: number;
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

/** Compare head logits (from gapLinear) with the model's logits (n x C). */
export function compareLogits(head: ArrayLike<number>, logits: ArrayLike<number>): LogitComparison {
  let maxAbsError = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < logits.length; i++) {
    const d = Math.abs(head[i] - logits[i]);
    if (!(d <= maxAbsError)) maxAbsError = d; // NaN propagates as a failure
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(logits[i]));
  }
  return { relError: maxAbsError / Math.max(1e-12, maxAbsLogit), maxAbsError, maxAbsLogit };
}
