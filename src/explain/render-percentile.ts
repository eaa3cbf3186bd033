/**
 * Percentiles and the ProtoPNet-style high-activation box: the bounding box of the pixels whose
 * upsampled heatmap value is at or above a percentile (95th by default) of all its values.
 */
import { InputError } from '../util/errors.ts';

/** An axis-aligned box in image pixels: columns x .. x + width - 1, rows y .. y + height - 1. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The `pct`-th percentile of `values`, defined exactly as numpy's default
 * (`np.percentile(values, pct)`, method 'linear'): sort the n values ascending into v, let
 * r = pct / 100 * (n - 1), i = floor(r), f = r - i; the result is v[i] + f * (v[i+1] - v[i])
 * (computed as v[i+1] - (1 - f) * (v[i+1] - v[i]) when f >= 0.5, as numpy does).
 * @throws InputError when `values` is empty or holds NaN, or `pct` is outside [0, 100].
 */
export function percentile(values: ArrayLike<number>, pct: number): number {
  if (!(pct >= 0 && pct <= 100)) throw new InputError(`percentile: pct must be in [0, 100], got ${pct}`);
  const n = values.length;
  if (n === 0) throw new InputError('percentile: expected at least one value, got none');
  const v = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < n; i++) if (Number.isNaN(v[i])) throw new InputError(`percentile: value ${i} is NaN`);
  v.sort();
  const r = (pct / 100) * (n - 1);
  const i = Math.floor(r);
  if (i >= n - 1) return v[n - 1];
  const f = r - i;
  const d = v[i + 1] - v[i];
  return f >= 0.5 ? v[i + 1] - d * (1 - f) : v[i] + d * f;
}

/**
 * Box of the pixels of `upsampled` (height h x width w, row-major, e.g. a heatmap upsampled to the
 * image) whose value is >= the `pct`-th percentile of all its values (see `percentile`). At least one
 * pixel always qualifies (the maximum), so the box is never empty. Matches ProtoPNet's
 * `find_high_activation_crop` (which returns the same box as y1, y2 + 1, x1, x2 + 1).
 * @throws InputError when sizes do not match or values are not finite.
 */
export function percentileBox(upsampled: Float32Array, w: number, h: number, pct = 95): Box {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InputError(`percentileBox: width and height must be positive integers, got ${w} x ${h}`);
  if (upsampled.length !== w * h) throw new InputError(`percentileBox: map has ${upsampled.length} values, expected width x height = ${w} x ${h} = ${w * h}`);
  for (let i = 0; i < upsampled.length; i++) {
    if (!Number.isFinite(upsampled[i])) throw new InputError(`percentileBox: value at pixel (${i % w}, ${Math.floor(i / w)}) is ${upsampled[i]}, expected a finite number`);
  }
  const threshold = percentile(upsampled, pct);
  let x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (upsampled[row + x] >= threshold) {
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        y2 = y;
      }
    }
  }
  return { x: x1, y: y1, width: x2 - x1 + 1, height: y2 - y1 + 1 };
}

/**
 * Check that `box` is integer and lies inside a w x h image; `what` names it in the message.
 * @throws InputError otherwise.
 */
export function checkBox(box: Box, w: number, h: number, what = 'box'): void {
  const { x, y, width, height } = box ?? ({} as Box);
  if (![x, y, width, height].every(Number.isInteger)) throw new InputError(`${what}: x, y, width and height must be integers, got ${JSON.stringify(box)}`);
  if (width < 1 || height < 1 || x < 0 || y < 0 || x + width > w || y + height > h) {
    throw new InputError(`${what}: {x: ${x}, y: ${y}, width: ${width}, height: ${height}} must be non-empty and inside the ${w} x ${h} image`);
  }
}
