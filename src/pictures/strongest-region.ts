/**
 * The strongest region of a prototype on an image, computed for every explained image (not only when
 * pictures are drawn), so it has to be cheap: the map is upsampled bicubically to the input size
 * (OpenCV INTER_CUBIC, the resize of `upsampleMap`), and the box of the pixels at or above its 95th percentile is
 * taken. The percentile is numpy's linear one, found by selection (two order statistics, expected
 * O(n)) instead of a full sort: about 10x faster at 224 x 224, and the same box (the tests compare it
 * with a sort-based reference). `percentile` and `percentileBox` in percentile.ts are the
 * checked forms of the two functions here.
 */
import { InputError } from '../util/errors.ts';
import { checkMap } from './layers.ts';
import { resizerFor } from './upsample.ts';
import type { Box } from './percentile.ts';
import { percentileBoxInEngine, resizedBoxInEngine } from './cubic-engine.ts';

/** Default percentile of the strongest-region box (ProtoPNet's crop). */
export const DEFAULT_BOX_PERCENTILE = 95;

/**
 * Rearrange a[lo..hi] so that a[k] holds the value it would have in sorted order, everything left of
 * it is <= a[k] and everything right of it >= a[k] (Hoare selection, median-of-three pivot).
 */
function selectInPlace(a: Float32Array | Float64Array, k: number, lo = 0, hi = a.length - 1): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three moved to a[mid]
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

function swap(a: Float32Array | Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * numpy's default `np.percentile(values, pct)` (method 'linear'), by selection. Values must be finite
 * (`percentile` in percentile.ts checks them, then calls this).
 */
export function percentileBySelection(values: ArrayLike<number>, pct: number): number {
  if (!(pct >= 0 && pct <= 100)) throw new InputError(`percentile: pct must be in [0, 100], got ${pct}`);
  const n = values.length;
  if (n === 0) throw new InputError('percentile: expected at least one value, got none');
  const r = (pct / 100) * (n - 1);
  const i = Math.floor(r);
  if (i >= n - 1) {
    let m = values[0];
    for (let j = 1; j < n; j++) if (values[j] > m) m = values[j];
    return m;
  }
  // float32 input is selected in a float32 copy (a memcpy, half the memory traffic); the
  // interpolation below runs in float64 either way, as numpy's does.
  const v = values instanceof Float32Array ? values.slice() : Float64Array.from(values as ArrayLike<number>);
  selectInPlace(v, i);
  const vi = v[i];
  let vi1 = Infinity;
  for (let j = i + 1; j < n; j++) if (v[j] < vi1) vi1 = v[j];
  const f = r - i;
  const d = vi1 - vi;
  return f >= 0.5 ? vi1 - d * (1 - f) : vi + d * f;
}

/**
 * The box (image pixels, inclusive of its edge pixels) of the pixels of `upsampled` (h x w) at or
 * above its `pct`-th percentile, computed in the WebAssembly engine (cubic-engine.ts). Values must be
 * finite (`percentileBox` checks them, then calls this); a non-finite value throws here too.
 */
export function boxAtPercentile(upsampled: Float32Array, w: number, h: number, pct: number): Box {
  if (upsampled.length !== w * h) throw new InputError(`strongest region: map has ${upsampled.length} values, expected ${w} x ${h}`);
  if (!(pct >= 0 && pct <= 100)) throw new InputError(`percentile: pct must be in [0, 100], got ${pct}`);
  const r = percentileBoxInEngine(upsampled, w, h, pct);
  if (!('nonFinite' in r)) return r;
  const i = r.nonFinite;
  throw new InputError(`percentileBox: value at pixel (${i % w}, ${Math.floor(i / w)}) is ${upsampled[i]}, expected a finite number`);
}

/** The same box in JavaScript: the reference the engine is tested against. */
export function boxAtPercentileJs(upsampled: Float32Array, w: number, h: number, pct: number): Box {
  if (upsampled.length !== w * h) throw new InputError(`strongest region: map has ${upsampled.length} values, expected ${w} x ${h}`);
  const threshold = percentileBySelection(upsampled, pct);
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
 * The strongest region of a feature-resolution map (mh x mw) on a w x h image: the map upsampled
 * bicubically to the image, then the box of the pixels at or above its `pct`-th percentile.
 */
export function strongestRegion(map: Float32Array, mh: number, mw: number, w: number, h: number, pct = DEFAULT_BOX_PERCENTILE): Box {
  checkMap(map, mh, mw, 'heatmap');
  if (!(pct >= 0 && pct <= 100)) throw new InputError(`percentile: pct must be in [0, 100], got ${pct}`);
  const resizer = resizerFor(mh, mw, h, w);
  const taps = resizer.engineTables();
  // One engine call: the upsampled map stays in the engine (only the box is needed here). A value
  // that overflowed is reported from the map itself, as boxAtPercentile reports it.
  const r = taps ? resizedBoxInEngine(map, mh, mw, h, w, taps, pct) : null;
  return r && !('nonFinite' in r) ? r : boxAtPercentile(resizer.resize(map), w, h, pct);
}
