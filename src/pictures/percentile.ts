/**
 * Percentiles and the ProtoPNet-style high-activation box: the bounding box of the pixels whose
 * upsampled heatmap value is at or above a percentile (95th by default) of all its values. The
 * checked public forms of the selection-based implementation in strongest-region.ts.
 */
import { InputError } from '../util/errors.ts';
import { boxAtPercentile, percentileBySelection } from './strongest-region.ts';

/** An axis-aligned box in image pixels: columns x .. x + width - 1, rows y .. y + height - 1. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The `pct`-th percentile of `values`, defined exactly as numpy's default
 * (`np.percentile(values, pct)`, method 'linear'): with the n values sorted ascending into v,
 * r = pct / 100 * (n - 1), i = floor(r), f = r - i; the result is v[i] + f * (v[i+1] - v[i])
 * (computed as v[i+1] - (1 - f) * (v[i+1] - v[i]) when f >= 0.5, as numpy does). The two order
 * statistics are found by selection (`percentileBySelection`), not by a full sort.
 * @throws InputError when `values` is empty or holds NaN, or `pct` is outside [0, 100].
 */
export function percentile(values: ArrayLike<number>, pct: number): number {
  if (!(pct >= 0 && pct <= 100)) throw new InputError(`percentile: pct must be in [0, 100], got ${pct}`);
  const n = values.length;
  if (n === 0) throw new InputError('percentile: expected at least one value, got none');
  for (let i = 0; i < n; i++) if (Number.isNaN(values[i])) throw new InputError(`percentile: value ${i} is NaN`);
  return percentileBySelection(values, pct);
}

/**
 * Box of the pixels of `upsampled` (height h x width w, row-major, e.g. a heatmap upsampled to the
 * image) whose value is >= the `pct`-th percentile of all its values (see `percentile`). At least one
 * pixel always qualifies (the maximum), so the box is never empty. Matches ProtoPNet's
 * `find_high_activation_crop` (which returns the same box as y1, y2 + 1, x1, x2 + 1). The checked
 * form of `boxAtPercentile`.
 * @throws InputError when sizes do not match or values are not finite.
 */
export function percentileBox(upsampled: Float32Array, w: number, h: number, pct = 95): Box {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InputError(`percentileBox: width and height must be positive integers, got ${w} x ${h}`);
  if (upsampled.length !== w * h) throw new InputError(`percentileBox: map has ${upsampled.length} values, expected width x height = ${w} x ${h} = ${w * h}`);
  // The engine checks every value (a non-finite one is an InputError naming its pixel).
  return boxAtPercentile(upsampled, w, h, pct);
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
