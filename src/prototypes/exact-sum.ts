/**
 * Storing prototypes in float32 so that they still rebuild the head vector exactly.
 *
 * Each float64 term is rounded to float32; then, per channel, the rounding error e = v - sum (float64
 * sum of the stored float32 values) is added to the term of smallest magnitude in that channel and
 * rounded again (smallest magnitude = finest float32 spacing), up to three passes; a caller may name
 * one row to take every correction instead (the residual term of allocator `none`). The stored values
 * are then verified: max_c |sum_i stored_i[c] - v[c]| (summed in float64) must be at most
 * 1e-6 · max_c |v[c]|, otherwise a CheckError names the class.
 */
import { CheckError } from '../util/errors.ts';

/** Relative tolerance of the exactness check. */
export const EXACTNESS_TOLERANCE = 1e-6;

export interface ExactSum {
  /** The stored terms, rows x D float32. */
  rows: Float32Array;
  /** max_c |sum_i rows[i][c] - v[c]| with the sum in float64. */
  maxAbsError: number;
  /** The same with the terms added in float32, in order (what a float32 consumer gets). */
  maxAbsErrorFloat32: number;
  /** EXACTNESS_TOLERANCE · max |v|. */
  tolerance: number;
}

/**
 * Round `terms` (rows x D, float64) to float32 so that their sum is v, and verify it.
 * @param label names the class in the error message
 * @param absorber the row that takes the rounding corrections; default: per channel, the row of
 *   smallest magnitude
 */
export function storeExactSum(terms: Float64Array, rows: number, v: ArrayLike<number>, label: string, absorber?: number): ExactSum {
  const D = v.length;
  const out = new Float32Array(rows * D);
  for (let x = 0; x < rows * D; x++) out[x] = terms[x];
  for (let c = 0; c < D; c++) {
    for (let pass = 0; pass < 3; pass++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += out[i * D + c];
      const e = v[c] - s;
      if (e === 0) break;
      let best = absorber ?? 0;
      if (absorber === undefined) for (let i = 1; i < rows; i++) if (Math.abs(out[i * D + c]) < Math.abs(out[best * D + c])) best = i;
      out[best * D + c] = out[best * D + c] + e;
    }
  }
  return verifyExactSum(out, rows, v, label);
}

/** Verify stored float32 terms (rows x D) against v; throws CheckError naming `label` on failure. */
export function verifyExactSum(out: Float32Array, rows: number, v: ArrayLike<number>, label: string): ExactSum {
  const D = v.length;
  let vmax = 0;
  for (let c = 0; c < D; c++) vmax = Math.max(vmax, Math.abs(v[c]));
  const tolerance = EXACTNESS_TOLERANCE * vmax;
  let maxAbsError = 0;
  let maxAbsErrorFloat32 = 0;
  let worst = -1;
  for (let c = 0; c < D; c++) {
    let s = 0;
    let s32 = 0;
    for (let i = 0; i < rows; i++) {
      s += out[i * D + c];
      s32 = Math.fround(s32 + out[i * D + c]);
    }
    const err = Math.abs(s - v[c]);
    if (Number.isNaN(err) || err > maxAbsError) {
      if (!Number.isNaN(maxAbsError)) worst = c;
      maxAbsError = Number.isNaN(maxAbsError) ? maxAbsError : err;
    }
    maxAbsErrorFloat32 = Math.max(maxAbsErrorFloat32, Math.abs(s32 - v[c]));
  }
  if (!(maxAbsError <= tolerance)) {
    throw new CheckError(
      `${label}: the refined prototypes do not rebuild the head vector: max |sum_i p~_i - v| = ${maxAbsError} at channel ${worst}, ` +
        `tolerance ${tolerance} (1e-6 x max |v|)`,
    );
  }
  return { rows: out, maxAbsError, maxAbsErrorFloat32, tolerance };
}
