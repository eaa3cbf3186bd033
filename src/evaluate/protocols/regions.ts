/**
 * Distinctiveness and comprehensiveness (Zhu et al., CVPR 2025; the reference is proto-non-param's
 * eval/distinctiveness.py and eval/comprehensiveness.py, docs/metric-references.md), per image, on
 * the k maps of the image's ground-truth class upsampled to the input with PyTorch's bilinear resize:
 *
 * - distinctiveness: a box of `boxSize` (72 at 224) centred on each map's first maximum, not clipped;
 *   the image's value is the mean IoU over the k (k - 1) / 2 pairs of boxes; the score is
 *   100 x (1 - mean over images).
 * - comprehensiveness: each map min-max normalised (a flat map selects nothing) and kept where
 *   >= 0.6; the union over the k maps against the foreground mask (CUB segmentations/, cropped like
 *   the image, NEAREST_EXACT-resized, > 200); the image's value is intersection / (union + 1e-6); the
 *   score is 100 x the mean over images.
 */
import type { CropBox } from '../../data/types.ts';
import { nearestExactIndex, resizeBilinearTorch } from '../../pictures/resize-torch.ts';

/** Box side at 224 x 224 (the reference's box_size). */
export const REFERENCE_BOX_SIZE = 72;
/** Threshold on min-max normalised maps (the reference's comprehensiveness threshold). */
export const REFERENCE_MAP_THRESHOLD = 0.6;
/** Foreground: mask value strictly above this (0-255). */
export const REFERENCE_MASK_THRESHOLD = 200;

/** Box side for an input of H x W: 72 scaled by min(H, W) / 224 and rounded, at least 1. */
export const boxSizeFor = (H: number, W: number): number => Math.max(1, Math.round((REFERENCE_BOX_SIZE * Math.min(H, W)) / 224));

/** The k maps (k x h x w) upsampled to H x W with PyTorch's bilinear resize, k x H x W. */
export function upsampleMaps(maps: Float32Array, k: number, h: number, w: number, H: number, W: number): Float32Array {
  const out = new Float32Array(k * H * W);
  for (let i = 0; i < k; i++) out.set(resizeBilinearTorch(maps.subarray(i * h * w, (i + 1) * h * w), h, w, H, W), i * H * W);
  return out;
}

/** (row, col) of each upsampled map's first maximum in row-major order, k x 2. */
export function mapPeaks(up: Float32Array, k: number, H: number, W: number): Int32Array {
  const peaks = new Int32Array(k * 2);
  for (let i = 0; i < k; i++) {
    const o = i * H * W;
    let best = 0;
    for (let j = 1; j < H * W; j++) if (up[o + j] > up[o + best]) best = j;
    peaks[i * 2] = Math.floor(best / W);
    peaks[i * 2 + 1] = best % W;
  }
  return peaks;
}

/** IoU of two boxes of side `box` centred at (y1, x1) and (y2, x2): I / (2 box^2 - I). */
export function centredBoxIoU(y1: number, x1: number, y2: number, x2: number, box: number): number {
  const inter = Math.max(0, box - Math.abs(x1 - x2)) * Math.max(0, box - Math.abs(y1 - y2));
  return inter / (2 * box * box - inter);
}

/** Mean IoU over the pairs of boxes centred on the k peaks (NaN when k < 2: no pair). */
export function meanPairIoU(peaks: Int32Array, k: number, box: number): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      sum += centredBoxIoU(peaks[i * 2], peaks[i * 2 + 1], peaks[j * 2], peaks[j * 2 + 1], box);
      pairs++;
    }
  }
  return pairs === 0 ? NaN : sum / pairs;
}

/**
 * Union over the k upsampled maps of (map - min) / (max - min) >= threshold, in float32 as the
 * reference computes it (a flat map divides 0 by 0: NaN, selecting nothing). H x W of 0/1.
 */
export function mapForeground(up: Float32Array, k: number, H: number, W: number, threshold = REFERENCE_MAP_THRESHOLD): Uint8Array {
  const f = Math.fround;
  const HW = H * W;
  const sel = new Uint8Array(HW);
  for (let i = 0; i < k; i++) {
    const o = i * HW;
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < HW; j++) {
      const v = up[o + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const range = f(hi - lo);
    for (let j = 0; j < HW; j++) if (f(f(up[o + j] - lo) / range) >= threshold) sel[j] = 1;
  }
  return sel;
}

/** intersection / (union + 1e-6) of two H x W 0/1 masks. */
export function maskIoU(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`maskIoU: masks of ${a.length} and ${b.length} pixels`);
  let inter = 0;
  let union = 0;
  for (let j = 0; j < a.length; j++) {
    if (a[j] && b[j]) inter++;
    if (a[j] || b[j]) union++;
  }
  return inter / (union + 1e-6);
}

/**
 * A source-size 8-bit mask cropped to `crop` (zero outside the image, as torchvision's crop pads),
 * resized to H x W with NEAREST_EXACT and thresholded (> threshold): H x W of 0/1.
 */
export function protocolMask(mask: Uint8Array, width: number, height: number, crop: CropBox, H: number, W: number, threshold = REFERENCE_MASK_THRESHOLD): Uint8Array {
  const ch = crop.y2 - crop.y1;
  const cw = crop.x2 - crop.x1;
  const ys = nearestExactIndex(ch, H);
  const xs = nearestExactIndex(cw, W);
  const out = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = crop.y1 + ys[y];
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < W; x++) {
      const sx = crop.x1 + xs[x];
      if (sx >= 0 && sx < width && mask[sy * width + sx] > threshold) out[y * W + x] = 1;
    }
  }
  return out;
}
