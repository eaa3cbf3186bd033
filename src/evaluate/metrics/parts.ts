/**
 * The consistency and stability scores as one metric: one pass over the evaluation set, each batch
 * run clean and (for stability) once more with the reference's clipped Gaussian noise, the
 * ground-truth class's prototype maps scored against the image's parts.
 */
import { InputError } from '../../util/errors.ts';
import { batchCount, type EvaluationContext, type Metric } from '../context/metric.ts';
import { perturbBatch, PROTOPNEXT_NOISE_EPS, REFERENCE_NOISE_STD } from '../protocols/noise.ts';
import {
  PartsAccumulator,
  PartsScorer,
  REFERENCE_PART_THRESHOLD,
  visibleMask,
  type ConsistencyReport,
  STABILITY_RULE,
  STABILITY_VARIANTS,
  type PartsVariant,
  type ResolvedPartsOptions,
  type StabilityReport,
  type StabilityVariant,
} from '../protocols/parts.ts';
import type { CubicArithmetic } from '../../pictures/resize-cv2.ts';

export interface PartsMetricOptions {
  /** Which protocol produced the batches' parts (recorded in the report; default 'strict'). */
  variant?: PartsVariant;
  /** Region half size (default round(36 * min(H, W) / 224)). */
  halfSize?: number;
  /** Consistency threshold (default 0.8). */
  partThreshold?: number;
  /** Part ids 1..numParts (default 15). */
  numParts?: number;
  /** Compute stability too (a second, perturbed forward pass per batch; default true). */
  stability?: boolean;
  /**
   * Whose stability (see StabilityVariant): 'evalprotopnet' (default; unclipped noise, signed sum) or
   * 'protopnext' (noise clipped to 0.25, equal part vectors).
   */
  stabilityVariant?: StabilityVariant;
  /** Noise standard deviation (default 0.2) and clip bound (default: the variant's, none or 0.25; null: none). */
  noiseStd?: number;
  noiseEps?: number | null;
  /** Resize arithmetic (default 'opencv'). */
  arithmetic?: CubicArithmetic;
}

export interface PartsMetricReport {
  variant: PartsVariant;
  seed: number;
  images: number;
  options: ResolvedPartsOptions & { partThreshold: number; stabilityVariant: StabilityVariant; noiseStd: number; noiseEps: number | null };
  consistency: ConsistencyReport;
  stability?: StabilityReport;
}

/** What both parts metrics resolve from their options and the model before the pass. */
export interface PartsRunSettings {
  scorer: PartsScorer;
  resolved: ResolvedPartsOptions;
  partThreshold: number;
  /** Stability noise: its seed (the context's), standard deviation and clip bound (null: none). */
  noise: { seed: number; std: number; eps: number | null };
  stabilityVariant: StabilityVariant;
  withStability: boolean;
  /** Prototypes per class. */
  k: number;
  /** Map size at feature resolution. */
  mapSize: [number, number];
  /** Values per input image (channels x height x width). */
  per: number;
}

/** Validate the options shared by `partsMetric` and `partsSetsMetric` and fill in their defaults. */
export function partsRunSettings(options: PartsMetricOptions, ctx: Pick<EvaluationContext, 'model' | 'seed'>): PartsRunSettings {
  const { model } = ctx;
  const { height, width, channels } = model.input;
  const scorer = new PartsScorer({ inputSize: [height, width], halfSize: options.halfSize, numParts: options.numParts, arithmetic: options.arithmetic });
  const partThreshold = options.partThreshold ?? REFERENCE_PART_THRESHOLD;
  if (!(partThreshold >= 0 && partThreshold <= 1)) throw new InputError(`parts metric: partThreshold must be in [0, 1], got ${options.partThreshold}`);
  const stabilityVariant = options.stabilityVariant ?? 'evalprotopnet';
  if (!STABILITY_VARIANTS.includes(stabilityVariant)) throw new InputError(`parts metric: stabilityVariant must be one of ${STABILITY_VARIANTS.join(', ')}, got '${String(stabilityVariant)}'`);
  const eps = options.noiseEps === undefined ? (stabilityVariant === 'protopnext' ? PROTOPNEXT_NOISE_EPS : null) : options.noiseEps;
  return {
    scorer,
    resolved: scorer.options,
    partThreshold,
    noise: { seed: ctx.seed, std: options.noiseStd ?? REFERENCE_NOISE_STD, eps },
    stabilityVariant,
    withStability: options.stability ?? true,
    k: model.prototypesPerClass,
    mapSize: model.mapSize,
    per: channels * height * width,
  };
}

/** The parts metric (name 'parts'). */
export function partsMetric(options: PartsMetricOptions = {}): Metric<PartsMetricReport> {
  return {
    name: 'parts',
    async run(ctx: EvaluationContext): Promise<PartsMetricReport> {
      const { model } = ctx;
      const { scorer, resolved, partThreshold, noise, stabilityVariant, withStability, k, mapSize, per } = partsRunSettings(options, ctx);
      const P = resolved.numParts;
      const [h, w] = mapSize;
      const acc = new PartsAccumulator(model.numClasses, k, P, model.prototypeCounts ?? null);
      for await (const b of ctx.batches()) {
        const n = batchCount(b, ctx);
        if (n === 0) continue;
        const maps = await model.prototypeMaps(b.tensor, n, b.labels);
        const noisyMaps = withStability ? await model.prototypeMaps(perturbBatch(b.tensor, per, b.indices, noise), n, b.labels) : undefined;
        for (let i = 0; i < n; i++) {
          const what = `image ${b.ids[i]}`;
          const parts = b.parts?.[i];
          if (!parts) throw new InputError(`${what}: no part annotations; the parts metric needs parts (CUB parts/part_locs.txt)`);
          const slice = (m: Float32Array) => m.subarray(i * k * h * w, (i + 1) * k * h * w);
          const hits = scorer.imageHits(slice(maps), k, [h, w], parts, what);
          const noisyHits = noisyMaps ? scorer.imageHits(slice(noisyMaps), k, [h, w], parts, `${what} (perturbed)`) : undefined;
          acc.add({ label: b.labels[i], visible: visibleMask(parts, P, what), hits, noisyHits }, what);
        }
        ctx.onProgress?.(acc.count);
      }
      if (acc.count === 0) throw new InputError('parts metric: the evaluation set has no images');
      return {
        variant: options.variant ?? 'strict',
        seed: ctx.seed,
        images: acc.count,
        options: { ...resolved, partThreshold, stabilityVariant, noiseStd: noise.std, noiseEps: noise.eps },
        consistency: acc.consistency(partThreshold),
        stability: withStability ? acc.stability(STABILITY_RULE[stabilityVariant]) : undefined,
      };
    },
  };
}
