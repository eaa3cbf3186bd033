/**
 * The stability perturbation: Gaussian noise N(0, std) drawn for every value of the normalised input
 * tensor and added to it. EvalProtoPNet (`util/eval_stability.py`, `perturb_img`) adds it unclipped;
 * ProtoPNeXt (`protopnet/metrics.py`, `add_gaussian_noise`) clips it to [-eps, eps] first (eps 0.25).
 *
 * The reference draws unseeded noise per batch. Here each image's noise comes from its own stream,
 * `new Rng(seed).fork(imageIndex)`, so the result depends on the seed and the image's position in the
 * dataset only, never on batch size or order; the seed is part of every report.
 */
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';

/** The noise standard deviation of both references. */
export const REFERENCE_NOISE_STD = 0.2;
/** ProtoPNeXt's clip bound (EvalProtoPNet does not clip). */
export const PROTOPNEXT_NOISE_EPS = 0.25;

export interface NoiseOptions {
  /** Seed of the noise streams (recorded in reports). */
  seed: number;
  /** Standard deviation (default 0.2). */
  std?: number;
  /** Clip bound, |noise| <= eps; null or absent: no clipping (EvalProtoPNet). */
  eps?: number | null;
}

function check(o: NoiseOptions): { seed: number; std: number; eps: number } {
  const std = o.std ?? REFERENCE_NOISE_STD;
  const eps = o.eps ?? Infinity;
  if (!Number.isInteger(o.seed)) throw new InputError(`noise: seed must be an integer, got ${o.seed}`);
  if (!(std >= 0) || !Number.isFinite(std)) throw new InputError(`noise: std must be a finite number >= 0, got ${o.std}`);
  if (!(eps >= 0)) throw new InputError(`noise: eps must be a number >= 0 or null (no clipping), got ${o.eps}`);
  return { seed: o.seed, std, eps };
}

/** The noise of one image: `length` values of N(0, std), clipped to [-eps, eps] when eps is set, from the image's own stream. */
export function imageNoise(imageIndex: number, length: number, options: NoiseOptions): Float32Array {
  const { seed, std, eps } = check(options);
  if (!Number.isInteger(imageIndex) || imageIndex < 0) throw new InputError(`noise: image index must be an integer >= 0, got ${imageIndex}`);
  const rng = new Rng(seed).fork(imageIndex);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v = std * rng.normal();
    out[i] = v < -eps ? -eps : v > eps ? eps : v;
  }
  return out;
}

/**
 * A perturbed copy of a batch of normalised images (n x perImage float32 values, any layout):
 * image i of the batch gets the noise of dataset position `indices[i]`.
 */
export function perturbBatch(batch: Float32Array, perImage: number, indices: readonly number[], options: NoiseOptions): Float32Array {
  if (!Number.isInteger(perImage) || perImage < 1) throw new InputError(`noise: perImage must be a positive integer, got ${perImage}`);
  if (batch.length !== indices.length * perImage) {
    throw new InputError(`noise: batch has ${batch.length} values, ${indices.length} images x ${perImage} = ${indices.length * perImage} expected`);
  }
  const out = new Float32Array(batch.length);
  for (let i = 0; i < indices.length; i++) {
    const noise = imageNoise(indices[i], perImage, options);
    const o = i * perImage;
    for (let t = 0; t < perImage; t++) out[o + t] = batch[o + t] + noise[t];
  }
  return out;
}
