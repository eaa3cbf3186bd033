/**
 * Deletion and insertion curves (Petsiuk, Das and Saenko, "RISE", BMVC 2018): pixels are moved, most
 * salient first, from the image to a substrate (deletion) or from a substrate into the image
 * (insertion), `pixelsPerStep` at a time, and the model's probability of the target class is read
 * after every step. A faithful saliency map makes deletion fall fast (low area) and insertion rise
 * fast (high area). A seeded random order is the baseline.
 *
 * Conventions (RISE's unless said): steps = ceil(H * W / pixelsPerStep); the curve has steps + 1
 * points (before the first step through after the last); its area is the trapezoidal rule over an x
 * axis normalised to [0, 1] by step index, (sum - (first + last) / 2) / (points - 1). The order is
 * by decreasing saliency with ties broken by pixel index, lower first (RISE flips an unstable argsort,
 * so its ties are arbitrary). All channels of a pixel move together.
 *
 * The model is injected as a `ScoreFn`; perturbed images are produced lazily in batches so the caller
 * can run them through the model batch by batch.
 */
import * as ort from 'onnxruntime-node';
import { buildModel, node, tensor, valueInfo } from '../../onnx/builder.ts';
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';
import { resizeCubicCv2 } from '../../pictures/resize-cv2.ts';

/** `deletion`: image → substrate; `insertion`: substrate → image. */
export type CausalMode = 'deletion' | 'insertion';

/**
 * What replaces (deletion) or precedes (insertion) the image's pixels:
 * - `zero`: zeros in the model's normalised input space. With mean/std normalisation this is the
 *   normalisation mean colour (RISE's deletion substrate, `torch.zeros_like` on the normalised input);
 * - `mean`: the per-channel mean of this image (a flat image of its average colour);
 * - `blur`: a Gaussian blur of this image (RISE's insertion substrate), zero-padded at the border as
 *   RISE's `conv2d(padding=klen // 2)` is.
 */
export type Substrate = 'zero' | 'mean' | 'blur';

/** Probability of the target class for each of the n images of a batch (n x C x H x W or n x H x W x C). */
export type ScoreFn = (batch: Float32Array, n: number) => Promise<Float32Array>;

/** One image's tensor geometry. */
export interface ImageShape {
  channels: number;
  height: number;
  width: number;
  /** Default 'NCHW' (channels first). */
  layout?: 'NCHW' | 'NHWC';
}

export interface CausalOptions {
  mode: CausalMode;
  /** Pixels moved per step (default: 2% of the pixels, round(0.02 * H * W), at least 1; RISE used W). */
  pixelsPerStep?: number;
  /** Default: 'zero' for deletion, 'blur' for insertion (RISE's choices). */
  substrate?: Substrate;
  /** Gaussian sigma of the `blur` substrate in pixels (default 5, as RISE). */
  blurSigma?: number;
  /** Kernel size of the `blur` substrate, odd (default 11, as RISE). */
  blurSize?: number;
  /** Images per model call (default 16). */
  batchSize?: number;
  /** A blur to reuse across images (created and released per call when absent). */
  blur?: GaussianBlur;
}

/** Fraction of the pixels moved per step by default. */
export const DEFAULT_STEP_FRACTION = 0.02;

/** round(0.02 * pixels), at least 1. */
export function defaultPixelsPerStep(height: number, width: number): number {
  return Math.max(1, Math.round(DEFAULT_STEP_FRACTION * height * width));
}

/** Steps needed to move every pixel: ceil(pixels / pixelsPerStep). */
export function stepCount(pixels: number, pixelsPerStep: number): number {
  return Math.ceil(pixels / pixelsPerStep);
}

/**
 * RISE's normalised area under a curve of n >= 2 points spaced evenly on [0, 1]:
 * (sum - (first + last) / 2) / (n - 1), the trapezoidal rule.
 */
export function areaUnderCurve(scores: ArrayLike<number>): number {
  const n = scores.length;
  if (n < 2) throw new InputError(`area under curve: needs at least 2 points, got ${n}`);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += scores[i];
  return (sum - (scores[0] + scores[n - 1]) / 2) / (n - 1);
}

/** Pixel indices by decreasing saliency, ties broken by index (lower first). NaN is an InputError. */
export function saliencyOrder(saliency: ArrayLike<number>): Uint32Array {
  const n = saliency.length;
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(saliency[i])) throw new InputError(`saliency: value ${i} is NaN`);
    idx[i] = i;
  }
  // typed-array sort is not guaranteed stable; the comparator makes the order total
  return idx.sort((a, b) => saliency[b] - saliency[a] || a - b);
}

/** A seeded uniformly random pixel order (Fisher-Yates): the baseline. */
export function randomOrder(pixels: number, seed: number): Uint32Array {
  if (!Number.isInteger(seed)) throw new InputError(`random order: seed must be an integer, got ${seed}`);
  const idx = Array.from({ length: pixels }, (_, i) => i);
  new Rng(seed).shuffle(idx);
  return Uint32Array.from(idx);
}

/** A class's saliency map: the sum of its k prototype maps (`maps` k x hw, row-major), in float32. */
export function classMap(maps: Float32Array, k: number, hw: number): Float32Array {
  const sum = new Float32Array(hw);
  for (let j = 0; j < k; j++) for (let q = 0; q < hw; q++) sum[q] += maps[j * hw + q];
  return sum;
}

/** A saliency map at feature resolution upsampled to the input (cv2 INTER_CUBIC, OpenCV arithmetic). */
export function upsampleSaliency(map: ArrayLike<number>, mapSize: readonly [number, number], inputSize: readonly [number, number]): Float32Array {
  return resizeCubicCv2(map, mapSize[0], mapSize[1], inputSize[0], inputSize[1]);
}

function shapeOf(s: ImageShape): Required<ImageShape> {
  const layout = s.layout ?? 'NCHW';
  for (const [k, v] of [['channels', s.channels], ['height', s.height], ['width', s.width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new InputError(`image shape: ${k} must be a positive integer, got ${v}`);
  }
  if (layout !== 'NCHW' && layout !== 'NHWC') throw new InputError(`image shape: layout must be 'NCHW' or 'NHWC', got '${String(layout)}'`);
  return { channels: s.channels, height: s.height, width: s.width, layout };
}

function toNchw(img: Float32Array, s: Required<ImageShape>): Float32Array {
  if (s.layout === 'NCHW') return img;
  const { channels: C } = s;
  const HW = s.height * s.width;
  const out = new Float32Array(img.length);
  for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) out[c * HW + p] = img[p * C + c];
  return out;
}

function fromNchw(img: Float32Array, s: Required<ImageShape>): Float32Array {
  if (s.layout === 'NCHW') return img;
  const { channels: C } = s;
  const HW = s.height * s.width;
  const out = new Float32Array(img.length);
  for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) out[p * C + c] = img[c * HW + p];
  return out;
}

/** The normalised 1-D Gaussian of `size` taps (odd) and `sigma`, float64. */
export function gaussianKernel1d(size: number, sigma: number): Float64Array {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new InputError(`blur: kernel size must be an odd positive integer, got ${size}`);
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new InputError(`blur: sigma must be a finite number > 0, got ${sigma}`);
  const r = (size - 1) / 2;
  const k = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) sum += k[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) k[i] /= sum;
  return k;
}

/**
 * A Gaussian blur run by onnxruntime: one depthwise Conv (group = channels) with the normalised
 * size x size kernel, zero padding size // 2. Create once, blur many images, then `release()`.
 */
export class GaussianBlur {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly channels: number,
    readonly sigma: number,
    readonly size: number,
  ) {}

  static async create(channels: number, sigma = 5, size = 11): Promise<GaussianBlur> {
    if (!Number.isInteger(channels) || channels < 1) throw new InputError(`blur: channels must be a positive integer, got ${channels}`);
    const g = gaussianKernel1d(size, sigma);
    const w = new Float32Array(channels * size * size);
    for (let c = 0; c < channels; c++) for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) w[(c * size + i) * size + j] = g[i] * g[j];
    const r = (size - 1) / 2;
    const model = buildModel({
      name: 'gaussian_blur',
      nodes: [node('Conv', ['x', 'w'], ['y'], { group: channels, pads: [r, r, r, r], kernel_shape: [size, size], strides: [1, 1] })],
      inputs: [valueInfo('x', ['n', channels, 'h', 'w'])],
      outputs: [valueInfo('y', ['n', channels, 'h', 'w'])],
      initializers: [tensor('w', [channels, 1, size, size], w)],
    });
    const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
    return new GaussianBlur(session, channels, sigma, size);
  }

  /** Blur one image (any layout; the result has the same layout). */
  async blur(image: Float32Array, shape: ImageShape): Promise<Float32Array> {
    const s = shapeOf(shape);
    if (s.channels !== this.channels) throw new InputError(`blur: image has ${s.channels} channels, the blur was made for ${this.channels}`);
    if (image.length !== s.channels * s.height * s.width) throw new InputError(`blur: image has ${image.length} values, ${s.channels} x ${s.height} x ${s.width} expected`);
    const x = new ort.Tensor('float32', toNchw(image, s), [1, s.channels, s.height, s.width]);
    const out = await this.session.run({ x });
    const y = out.y;
    if (!y || y.type !== 'float32') throw new Error('blur: onnxruntime returned no float32 output');
    return fromNchw(new Float32Array(y.data as Float32Array), s);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The substrate image for `image` (same shape and layout). */
export async function substrateImage(image: Float32Array, shape: ImageShape, substrate: Substrate, options: { blurSigma?: number; blurSize?: number; blur?: GaussianBlur } = {}): Promise<Float32Array> {
  const s = shapeOf(shape);
  const HW = s.height * s.width;
  if (image.length !== s.channels * HW) throw new InputError(`substrate: image has ${image.length} values, ${s.channels} x ${s.height} x ${s.width} expected`);
  if (substrate === 'zero') return new Float32Array(image.length);
  if (substrate === 'mean') {
    const out = new Float32Array(image.length);
    for (let c = 0; c < s.channels; c++) {
      let sum = 0;
      for (let p = 0; p < HW; p++) sum += image[s.layout === 'NCHW' ? c * HW + p : p * s.channels + c];
      const m = sum / HW;
      for (let p = 0; p < HW; p++) out[s.layout === 'NCHW' ? c * HW + p : p * s.channels + c] = m;
    }
    return out;
  }
  if (substrate === 'blur') {
    const sigma = options.blurSigma ?? 5;
    const size = options.blurSize ?? 11;
    const given = options.blur;
    if (given && (given.sigma !== sigma || given.size !== size)) {
      throw new InputError(`substrate: the blur given has sigma ${given.sigma}, size ${given.size}; options ask for sigma ${sigma}, size ${size}`);
    }
    const blur = given ?? (await GaussianBlur.create(s.channels, sigma, size));
    try {
      return await blur.blur(image, s);
    } finally {
      if (!given) await blur.release();
    }
  }
  throw new InputError(`substrate must be 'zero', 'mean' or 'blur', got '${String(substrate)}'`);
}

/** A batch of perturbed images: steps firstStep .. firstStep + count - 1. */
export interface PerturbationBatch {
  /** count images, each of the input image's shape and layout, concatenated. */
  images: Float32Array;
  count: number;
  firstStep: number;
}

/**
 * The perturbed images of a curve, lazily in batches: image i (i = 0 .. steps) is `start` with the
 * pixels order[0 .. min(i * pixelsPerStep, H * W)) taken from `finish` (all channels).
 */
export function* perturbationBatches(
  start: Float32Array,
  finish: Float32Array,
  shape: ImageShape,
  order: ArrayLike<number>,
  pixelsPerStep: number,
  batchSize: number,
): Generator<PerturbationBatch> {
  const s = shapeOf(shape);
  const HW = s.height * s.width;
  const per = s.channels * HW;
  if (start.length !== per || finish.length !== per) throw new InputError(`perturbation: images must have ${per} values (${s.channels} x ${s.height} x ${s.width}), got ${start.length} and ${finish.length}`);
  if (order.length !== HW) throw new InputError(`perturbation: pixel order has ${order.length} entries, ${HW} pixels expected`);
  if (!Number.isInteger(pixelsPerStep) || pixelsPerStep < 1) throw new InputError(`perturbation: pixelsPerStep must be a positive integer, got ${pixelsPerStep}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`perturbation: batchSize must be a positive integer, got ${batchSize}`);
  const seen = new Uint8Array(HW);
  for (let i = 0; i < HW; i++) {
    const p = order[i];
    if (!Number.isInteger(p) || p < 0 || p >= HW || seen[p]) throw new InputError(`perturbation: pixel order is not a permutation of 0..${HW - 1} (entry ${i} = ${p})`);
    seen[p] = 1;
  }
  const steps = stepCount(HW, pixelsPerStep);
  const work = Float32Array.from(start);
  let moved = 0;
  for (let first = 0; first <= steps; first += batchSize) {
    const count = Math.min(batchSize, steps + 1 - first);
    const images = new Float32Array(count * per);
    for (let b = 0; b < count; b++) {
      const target = Math.min((first + b) * pixelsPerStep, HW);
      for (; moved < target; moved++) {
        const p = order[moved];
        if (s.layout === 'NCHW') for (let c = 0; c < s.channels; c++) work[c * HW + p] = finish[c * HW + p];
        else for (let c = 0; c < s.channels; c++) work[p * s.channels + c] = finish[p * s.channels + c];
      }
      images.set(work, b * per);
    }
    yield { images, count, firstStep: first };
  }
}

/** A deletion or insertion curve and its area. */
export interface CausalCurve {
  mode: CausalMode;
  substrate: Substrate;
  pixelsPerStep: number;
  steps: number;
  /** steps + 1 probabilities, before the first step through after the last. */
  scores: number[];
  /** areaUnderCurve(scores). */
  auc: number;
}

function resolveCurveOptions(options: CausalOptions, s: Required<ImageShape>): { mode: CausalMode; substrate: Substrate; pixelsPerStep: number; batchSize: number } {
  const mode = options.mode;
  if (mode !== 'deletion' && mode !== 'insertion') throw new InputError(`causal metric: mode must be 'deletion' or 'insertion', got '${String(mode)}'`);
  const substrate = options.substrate ?? (mode === 'deletion' ? 'zero' : 'blur');
  if (substrate !== 'zero' && substrate !== 'mean' && substrate !== 'blur') throw new InputError(`causal metric: substrate must be 'zero', 'mean' or 'blur', got '${String(substrate)}'`);
  return { mode, substrate, pixelsPerStep: options.pixelsPerStep ?? defaultPixelsPerStep(s.height, s.width), batchSize: options.batchSize ?? 16 };
}

async function runCurve(
  image: Float32Array,
  base: Float32Array,
  s: Required<ImageShape>,
  order: ArrayLike<number>,
  score: ScoreFn,
  o: { mode: CausalMode; substrate: Substrate; pixelsPerStep: number; batchSize: number },
): Promise<CausalCurve> {
  const [start, finish] = o.mode === 'deletion' ? [image, base] : [base, image];
  const scores: number[] = [];
  for (const batch of perturbationBatches(start, finish, s, order, o.pixelsPerStep, o.batchSize)) {
    const p = await score(batch.images, batch.count);
    if (!p || p.length !== batch.count) throw new InputError(`causal metric: the score function returned ${p?.length} values for a batch of ${batch.count} images`);
    for (let i = 0; i < batch.count; i++) {
      if (!Number.isFinite(p[i])) throw new InputError(`causal metric: the score function returned ${p[i]} for step ${batch.firstStep + i}`);
      scores.push(p[i]);
    }
  }
  return { mode: o.mode, substrate: o.substrate, pixelsPerStep: o.pixelsPerStep, steps: scores.length - 1, scores, auc: areaUnderCurve(scores) };
}

/** Run one curve: `order` is a permutation of the H * W pixel indices, most important first. */
export async function causalCurve(image: Float32Array, shape: ImageShape, order: ArrayLike<number>, score: ScoreFn, options: CausalOptions): Promise<CausalCurve> {
  const s = shapeOf(shape);
  const o = resolveCurveOptions(options, s);
  const base = await substrateImage(image, s, o.substrate, options);
  return runCurve(image, base, s, order, score, o);
}

/** A saliency-ordered curve and its seeded random-order baseline. */
export interface CausalComparison {
  saliency: CausalCurve;
  random: CausalCurve;
  /** The seed of the random order. */
  seed: number;
}

/**
 * Deletion or insertion for a saliency map (at the input size, or at feature resolution with
 * `mapSize`, then upsampled with cv2 INTER_CUBIC) against a random order drawn from `seed`.
 */
export async function compareWithRandom(
  image: Float32Array,
  shape: ImageShape,
  saliency: ArrayLike<number>,
  score: ScoreFn,
  options: CausalOptions & { seed: number; mapSize?: [number, number] },
): Promise<CausalComparison> {
  const s = shapeOf(shape);
  const HW = s.height * s.width;
  const full = options.mapSize ? upsampleSaliency(saliency, options.mapSize, [s.height, s.width]) : saliency;
  if (full.length !== HW) throw new InputError(`causal metric: saliency has ${full.length} values, ${HW} (H x W) expected; give mapSize for a feature-resolution map`);
  const o = resolveCurveOptions(options, s);
  const base = await substrateImage(image, s, o.substrate, options);
  const bySaliency = await runCurve(image, base, s, saliencyOrder(full), score, o);
  const byRandom = await runCurve(image, base, s, randomOrder(HW, options.seed), score, o);
  return { saliency: bySaliency, random: byRandom, seed: options.seed };
}
