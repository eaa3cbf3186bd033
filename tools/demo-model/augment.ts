/**
 * Seeded training-time augmentation on NHWC float32 images: horizontal flip and small translations
 * (edge pixels repeated into the uncovered border). Cheap host work (a few hundred thousand values per
 * batch), drawn from the project's Rng so a seed fixes every batch.
 */
import type { Rng } from '../../src/util/random.ts';

/** Augmentation settings. */
export interface AugmentConfig {
  /** Flip each image left-right with probability 1/2. */
  flip: boolean;
  /** Shift each image by an integer in [-maxShift, maxShift] pixels on each axis (0 = off). */
  maxShift: number;
}

/** The transform drawn for one image. */
export interface ImageTransform {
  flip: boolean;
  dy: number;
  dx: number;
}

/** Draw one image's transform (always three draws, so the stream does not depend on the settings). */
export function drawTransform(cfg: AugmentConfig, rng: Rng): ImageTransform {
  const f = rng.next();
  const sy = rng.next();
  const sx = rng.next();
  const span = 2 * cfg.maxShift + 1;
  return {
    flip: cfg.flip && f < 0.5,
    dy: Math.floor(sy * span) - cfg.maxShift,
    dx: Math.floor(sx * span) - cfg.maxShift,
  };
}

/**
 * Write the transformed image: out[y, x] = src[clamp(y - dy), clamp(x' - dx)] with x' the
 * (optionally mirrored) column, for an H x W x C image.
 */
export function transformImage(src: Float32Array, out: Float32Array, H: number, W: number, C: number, t: ImageTransform): void {
  for (let y = 0; y < H; y++) {
    const sy = Math.min(H - 1, Math.max(0, y - t.dy));
    for (let x = 0; x < W; x++) {
      const xm = t.flip ? W - 1 - x : x;
      const sx = Math.min(W - 1, Math.max(0, xm - t.dx));
      const s = (sy * W + sx) * C;
      const d = (y * W + x) * C;
      for (let c = 0; c < C; c++) out[d + c] = src[s + c];
    }
  }
}
