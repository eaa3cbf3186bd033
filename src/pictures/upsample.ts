/**
 * The bicubic upsampling every picture uses: OpenCV-compatible INTER_CUBIC (a = -0.75, half-pixel
 * centres, replicated border, separable) from resize-cv2.ts, the same interpolation the
 * part-consistency evaluation uses, so the boxes drawn here are the regions that evaluation scores.
 */
import { CubicResizer } from './resize-cv2.ts';

/**
 * Resizers by geometry (`resizerFor`): their tap tables are computed once and reused (an explanation upsamples k
 * maps of one size per image; reuse halves the cost). A handful of geometries is kept.
 */
const resizers = new Map<string, CubicResizer>();
const MAX_RESIZERS = 16;

export function resizerFor(h: number, w: number, outH: number, outW: number): CubicResizer {
  const key = `${h}x${w}>${outH}x${outW}`;
  let r = resizers.get(key);
  if (!r) {
    r = new CubicResizer(h, w, outH, outW);
    if (resizers.size >= MAX_RESIZERS) resizers.delete(resizers.keys().next().value as string);
    resizers.set(key, r);
  }
  return r;
}

/** Resize `src` (h x w, row-major float map) to outH x outW with cv2.resize(..., INTER_CUBIC). */
export function resizeBicubic(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  return resizerFor(h, w, outH, outW).resize(src) as Float32Array;
}
