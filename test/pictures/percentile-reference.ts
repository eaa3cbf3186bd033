// Sort-based references for numpy's linear percentile and the high-activation box, written
// independently of src/pictures (which finds the order statistics by selection), for the tests to
// compare against.

/** `np.percentile(values, pct)` (method 'linear') by a full sort; values must not be NaN. */
export function percentile(values: ArrayLike<number>, pct: number): number {
  const n = values.length;
  const v = Float64Array.from(values as ArrayLike<number>);
  v.sort();
  const r = (pct / 100) * (n - 1);
  const i = Math.floor(r);
  if (i >= n - 1) return v[n - 1];
  const f = r - i;
  const d = v[i + 1] - v[i];
  return f >= 0.5 ? v[i + 1] - d * (1 - f) : v[i] + d * f;
}

/** Box of the pixels of `upsampled` (h x w) at or above its `pct`-th percentile, by a scan. */
export function percentileBox(upsampled: Float32Array, w: number, h: number, pct = 95): { x: number; y: number; width: number; height: number } {
  const threshold = percentile(upsampled, pct);
  let x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (upsampled[y * w + x] >= threshold) {
        x1 = Math.min(x1, x);
        x2 = Math.max(x2, x);
        y1 = Math.min(y1, y);
        y2 = Math.max(y2, y);
      }
    }
  }
  return { x: x1, y: y1, width: x2 - x1 + 1, height: y2 - y1 + 1 };
}
