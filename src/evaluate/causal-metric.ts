/**
 * Deletion and insertion (RISE) over an evaluation set as one metric: per image, the target class's
 * saliency from its prototype maps, a curve ordered by it and one ordered at random (seeded per
 * image), and the mean areas.
 */
import { InputError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import { classMap, compareWithRandom, GaussianBlur, type CausalMode, type Substrate } from './protocols/deletion-curves.ts';
import { argmaxRow } from './metrics/fidelity.ts';
import { batchCount, type EvaluationContext, type Metric } from './context/metric.ts';

export interface CausalMetricOptions {
  /** Curves to run (default both). */
  modes?: CausalMode[];
  /**
   * `class` (default): the sum of the target class's k prototype maps (its class activation map);
   * `prototypes`: each prototype's map on its own (k curves per image and mode).
   */
  saliency?: 'class' | 'prototypes';
  /** `label` (default): the ground-truth class; `predicted`: the model's top class. */
  target?: 'label' | 'predicted';
  /** Pixels per step (default 2% of the pixels). */
  pixelsPerStep?: number;
  /** Substrate per mode (defaults: deletion 'zero', insertion 'blur'). */
  deletionSubstrate?: Substrate;
  insertionSubstrate?: Substrate;
  blurSigma?: number;
  blurSize?: number;
  /** Images per model call (default 16). */
  batchSize?: number;
  /** Score at most this many images (default: all). */
  maxImages?: number;
}

export interface CausalImageResult {
  id: string;
  target: number;
  /** 'class', or the prototype index. */
  saliency: 'class' | number;
  mode: CausalMode;
  auc: number;
  randomAuc: number;
}

export interface CausalSummary {
  mode: CausalMode;
  substrate: Substrate;
  /** 'class' or the prototype index. */
  saliency: 'class' | number;
  curves: number;
  meanAuc: number;
  meanRandomAuc: number;
}

export interface CausalMetricReport {
  seed: number;
  images: number;
  pixelsPerStep: number | 'default';
  target: 'label' | 'predicted';
  summary: CausalSummary[];
  perImage: CausalImageResult[];
}

/** The deletion/insertion metric (name 'causal'). */
export function causalMetric(options: CausalMetricOptions = {}): Metric<CausalMetricReport> {
  return {
    name: 'causal',
    async run(ctx: EvaluationContext): Promise<CausalMetricReport> {
      const { model } = ctx;
      const modes = options.modes ?? ['deletion', 'insertion'];
      if (modes.length === 0 || modes.some((m) => m !== 'deletion' && m !== 'insertion')) throw new InputError(`causal metric: modes must be 'deletion' and/or 'insertion', got ${JSON.stringify(modes)}`);
      const saliencyKind = options.saliency ?? 'class';
      const targetKind = options.target ?? 'label';
      const maxImages = options.maxImages ?? Infinity;
      const k = model.prototypesPerClass;
      const C = model.numClasses;
      const [h, w] = model.mapSize;
      const { channels, height, width, layout } = model.input;
      const shape = { channels, height, width, layout };
      const per = channels * height * width;
      const substrateOf = (m: CausalMode): Substrate => (m === 'deletion' ? options.deletionSubstrate ?? 'zero' : options.insertionSubstrate ?? 'blur');
      const needsBlur = modes.some((m) => substrateOf(m) === 'blur');
      const blur = needsBlur ? await GaussianBlur.create(channels, options.blurSigma ?? 5, options.blurSize ?? 11) : undefined;
      const perImage: CausalImageResult[] = [];
      let images = 0;
      try {
        for await (const b of ctx.batches()) {
          const n = batchCount(b, ctx);
          if (n === 0) continue;
          const take = Math.min(n, maxImages - images);
          if (take <= 0) break;
          let targets: number[] = [...b.labels];
          if (targetKind === 'predicted') {
            const probs = await model.probabilities(b.tensor, n);
            targets = Array.from({ length: n }, (_, i) => argmaxRow(probs, i * C, C));
          }
          const maps = await model.prototypeMaps(b.tensor, n, targets);
          if (maps.length !== n * k * h * w) throw new InputError(`causal metric: the model returned ${maps.length} map values, ${n} x ${k} x ${h} x ${w} expected`);
          for (let i = 0; i < take; i++) {
            const target = targets[i];
            const image = b.tensor.subarray(i * per, (i + 1) * per);
            const score = async (batch: Float32Array, m: number): Promise<Float32Array> => {
              const p = await model.probabilities(batch, m);
              return Float32Array.from({ length: m }, (_, j) => p[j * C + target]);
            };
            const saliencies: { key: 'class' | number; map: Float32Array }[] = [];
            const own = maps.subarray(i * k * h * w, (i + 1) * k * h * w);
            if (saliencyKind === 'class') {
              saliencies.push({ key: 'class', map: classMap(own, k, h * w) });
            } else {
              for (let j = 0; j < k; j++) saliencies.push({ key: j, map: own.subarray(j * h * w, (j + 1) * h * w) });
            }
            const seed = new Rng(ctx.seed).fork(b.indices[i]).seed;
            for (const { key, map } of saliencies) {
              for (const mode of modes) {
                const r = await compareWithRandom(image, shape, map, score, {
                  mode,
                  substrate: substrateOf(mode),
                  pixelsPerStep: options.pixelsPerStep,
                  batchSize: options.batchSize,
                  blurSigma: options.blurSigma,
                  blurSize: options.blurSize,
                  blur,
                  seed,
                  mapSize: [h, w],
                });
                perImage.push({ id: b.ids[i], target, saliency: key, mode, auc: r.saliency.auc, randomAuc: r.random.auc });
              }
            }
          }
          images += take;
          ctx.onProgress?.(images);
          if (images >= maxImages) break;
        }
      } finally {
        await blur?.release();
      }
      if (images === 0) throw new InputError('causal metric: the evaluation set has no images');
      const groups = new Map<string, CausalSummary>();
      for (const r of perImage) {
        const key = `${r.mode}/${r.saliency}`;
        const g = groups.get(key) ?? { mode: r.mode, substrate: substrateOf(r.mode), saliency: r.saliency, curves: 0, meanAuc: 0, meanRandomAuc: 0 };
        g.curves++;
        g.meanAuc += r.auc;
        g.meanRandomAuc += r.randomAuc;
        groups.set(key, g);
      }
      const summary = [...groups.values()].map((g) => ({ ...g, meanAuc: g.meanAuc / g.curves, meanRandomAuc: g.meanRandomAuc / g.curves }));
      return { seed: ctx.seed, images, pixelsPerStep: options.pixelsPerStep ?? 'default', target: targetKind, summary, perImage };
    },
  };
}
