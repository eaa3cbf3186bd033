/**
 * The bicubic upsampling every picture uses: OpenCV-compatible INTER_CUBIC (a = -0.75, half-pixel
 * centres, replicated border, separable) from the evaluation module, the same interpolation the
 * part-consistency evaluation uses, so the boxes drawn here are the regions that evaluation scores.
 */
import { resizeCubicCv2 } from '../evaluate/resize-cv2.ts';

/** Resize `src` (h x w, row-major float map) to outH x outW with cv2.resize(..., INTER_CUBIC). */
export function resizeBicubic(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  return resizeCubicCv2(src, h, w, outH, outW);
}
