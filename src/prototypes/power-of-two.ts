/**
 * Power-of-two rescaling. Multiplying by 2^e is exact in floating point (barring overflow and
 * underflow), so the engines can work on data brought to unit scale and the results scaled back
 * without changing a bit of what scale-free quantities (normalised heatmaps, NMF parts) mean.
 */

/** Largest |x|. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let x = 0; x < a.length; x++) {
    const v = Math.abs(a[x]);
    if (v > m) m = v;
  }
  return m;
}

/** 2^-e with 2^e nearest to `magnitude` (1 for 0 or non-finite magnitudes). */
export function unitScale(magnitude: number): number {
  if (!(magnitude > 0) || !Number.isFinite(magnitude)) return 1;
  return Math.pow(2, -Math.round(Math.log2(magnitude)));
}

/** a · s as float32 (exact when s is a power of two and nothing overflows or underflows). */
export function scaled32(a: ArrayLike<number>, s: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let x = 0; x < a.length; x++) out[x] = a[x] * s;
  return out;
}
