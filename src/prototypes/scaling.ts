/**
 * Scaling of the NMF prototypes against the head vector (method.md section 4, step 1-2):
 * alpha = argmin ||v - sum_i alpha_i p_i||^2, unconstrained (`lstsq`, the paper) or with
 * alpha >= 0 (`nnls`), and the residual R = v - sum_i alpha_i p_i accumulated in float64.
 */
import { leastSquares, nonNegativeLeastSquares } from '../linalg/least-squares.ts';
import type { Scaling } from './options.ts';

export interface ScaledPrototypes {
  /** k coefficients. */
  alpha: Float64Array;
  /** D entries, float64: v - sum_i alpha_i p_i. */
  R: Float64Array;
}

/** Scale P (k x D) to approximate v (D). */
export function scalePrototypes(P: Float32Array, k: number, D: number, v: Float32Array, scaling: Scaling): ScaledPrototypes {
  const fit = scaling === 'nnls' ? nonNegativeLeastSquares(P, k, D, v) : leastSquares(P, k, D, v);
  const alpha = Float64Array.from(fit.alpha);
  // Recomputed here (not taken from the solver) so the invariant v = alpha P + R holds by construction.
  const R = new Float64Array(D);
  for (let c = 0; c < D; c++) {
    let s = v[c];
    for (let i = 0; i < k; i++) s -= alpha[i] * P[i * D + c];
    R[c] = s;
  }
  return { alpha, R };
}
