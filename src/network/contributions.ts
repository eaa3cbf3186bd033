/**
 * The decomposition of one logit on one image: prototype i's heatmap is x p~_i^T (one value per
 * feature-map position) and its contribution is the heatmap's mean, so that
 *
 *   logit_c = sum_i mean(x p~_i^T) + mean(x r_c^T) + b_c
 *
 * where r_c is the residual term (zero unless the network was built with allocator `none`).
 *
 * The product is k x D by D x HW per image (ResNet-18: 3 x 512 x 49 = 75k multiply-adds), so it runs
 * in float64 JavaScript: cheaper than a round trip through an engine at these sizes (measured in
 * docs/explain.md), and float64 keeps the completeness check about onnxruntime's float32 logits, not
 * about this sum.
 */

/** Heatmaps and contributions of a set of vectors (prototypes, or the residual term) on one image. */
export interface TermMaps {
  /** k x HW, row-major: maps[i * HW + p] = x[p] . v_i (computed in float64, stored as float32). */
  maps: Float32Array;
  /** k: mean over positions of each map, accumulated in float64. */
  contributions: Float64Array;
}

/**
 * x (HW x D, position-major, one image's features) against k vectors V (k x D, row-major).
 * @throws Error when the lengths do not match the shapes (a programming error, not user input).
 */
export function termMaps(x: Float32Array, HW: number, D: number, V: Float32Array, k: number): TermMaps {
  if (x.length !== HW * D) throw new Error(`termMaps: features have ${x.length} values, expected HW x D = ${HW} x ${D}`);
  if (V.length !== k * D) throw new Error(`termMaps: vectors have ${V.length} values, expected k x D = ${k} x ${D}`);
  const maps = new Float32Array(k * HW);
  const sums = new Float64Array(k);
  for (let p = 0; p < HW; p++) {
    const xo = p * D;
    for (let i = 0; i < k; i++) {
      const vo = i * D;
      let s = 0;
      for (let d = 0; d < D; d++) s += x[xo + d] * V[vo + d];
      maps[i * HW + p] = s;
      sums[i] += s;
    }
  }
  for (let i = 0; i < k; i++) sums[i] /= HW;
  return { maps, contributions: sums };
}

/** Softmax of one row of logits in float64 (max subtracted first). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > m) m = logits[i];
  const out = new Float64Array(n);
  let z = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.exp(logits[i] - m);
    z += out[i];
  }
  for (let i = 0; i < n; i++) out[i] /= z;
  return out;
}

/** Class indices by decreasing logit; equal logits keep class order (the card orders the same way). */
export function rankClasses(logits: ArrayLike<number>): number[] {
  return Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
}
