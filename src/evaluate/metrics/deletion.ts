/**
 * Deletion and insertion (Petsiuk et al., RISE, 2018) for a prototype network on real images. Per
 * image of a subset (evenly spaced over the evaluation set) and its target class (the predicted one
 * by default), pixels are ordered by
 *
 *   - the class map: the sum of the class's k prototype maps x p~_i^T (upsampled with cv2 bicubic),
 *   - each prototype's own map,
 *   - a seeded random order (the baseline, one per image, shared by every map of that image),
 *
 * and moved to the substrate (deletion) or from it (insertion) step by step; the black box's
 * probability of the target class after each step gives the curve, its trapezoidal area the score.
 * Perturbed images go through onnxruntime in batches. The report holds mean curves (for plots), mean
 * areas, how often the class map beats random, per-image areas and the throughput.
 */
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';
import {
  areaUnderCurve,
  classMap,
  defaultPixelsPerStep,
  GaussianBlur,
  perturbationBatches,
  randomOrder,
  saliencyOrder,
  stepCount,
  substrateImage,
  upsampleSaliency,
  type CausalMode,
  type ImageShape,
  type Substrate,
} from '../protocols/deletion-curves.ts';
import { batchCount, runWhole, type ShardableMetric } from '../context/metric.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';
import { evenlySpaced } from '../../data/selection.ts';
import { argmaxRow } from './fidelity.ts';

/** Images scored by default: deletion and insertion cost about (k + 2) x 2 x steps forward passes per image. */
export const DEFAULT_DELETION_IMAGES = 50;
/** Perturbed images per model call by default (one whole 51-point curve at the default step). */
export const DEFAULT_DELETION_BATCH = 64;

export interface DeletionOptions {
  /** Curves to run (default both). */
  modes?: CausalMode[];
  /** Images scored, evenly spaced over the evaluation set (default 50). */
  images?: number;
  /** `predicted` (default): the black box's top class; `label`: the ground truth. */
  target?: 'predicted' | 'label';
  /** Also one curve per prototype map (default true). */
  prototypes?: boolean;
  /** Pixels per step (default round(0.02 H W)). */
  pixelsPerStep?: number;
  /** Substrates (defaults: deletion 'zero', insertion 'blur', as RISE). */
  deletionSubstrate?: Substrate;
  insertionSubstrate?: Substrate;
  blurSigma?: number;
  blurSize?: number;
  /** Perturbed images per model call (default 64). */
  batchSize?: number;
  /** Called after each scored image with the count so far. */
  onImage?: (done: number, total: number) => void;
}

/** Key of a curve: the class map, a prototype's map (its index), or the random order. */
export type SaliencyKey = 'class' | 'random' | number;

export interface CurveSummary {
  mode: CausalMode;
  substrate: Substrate;
  saliency: SaliencyKey;
  curves: number;
  meanAuc: number;
  /** Mean probability after each step (steps + 1 points, x = step / steps). */
  meanCurve: number[];
}

export interface DeletionImageResult {
  id: string;
  index: number;
  target: number;
  /** Per mode: area of the class-map curve, of each prototype's curve, of the random curve. */
  auc: Partial<Record<CausalMode, { class: number; prototypes: number[]; random: number }>>;
}

export interface DeletionReport {
  seed: number;
  images: number;
  target: 'predicted' | 'label';
  pixelsPerStep: number;
  steps: number;
  batchSize: number;
  substrates: Partial<Record<CausalMode, Substrate>>;
  blur: { sigma: number; size: number } | null;
  summary: CurveSummary[];
  /** Per mode: fraction of images where the class map beats the random order (lower deletion, higher insertion area). */
  classBeatsRandom: Partial<Record<CausalMode, number>>;
  perImage: DeletionImageResult[];
  /** Time spent on the curves, images scored per second, perturbed images run per second. */
  seconds: number;
  imagesPerSecond: number;
  perturbedPerSecond: number;
}

/** One scored image with every curve (probability after each step), in the order they were run. */
export interface DeletionImagePartial {
  result: DeletionImageResult;
  curves: { mode: CausalMode; saliency: SaliencyKey; scores: number[] }[];
}

/** What deletion keeps from a range of images: each scored image's curves, and the time spent. */
export interface DeletionPartial {
  images: DeletionImagePartial[];
  seconds: number;
  perturbed: number;
}

/** The deletion/insertion metric (name 'deletion'). */
export function deletionMetric(options: DeletionOptions = {}): ShardableMetric<DeletionPartial, DeletionReport, NetworkEvaluationContext> {
  const modes = options.modes ?? ['deletion', 'insertion'];
  if (modes.length === 0 || modes.some((m) => m !== 'deletion' && m !== 'insertion') || new Set(modes).size !== modes.length) {
    throw new InputError(`deletion metric: modes must be 'deletion' and/or 'insertion', got ${JSON.stringify(modes)}`);
  }
  const wanted = options.images ?? DEFAULT_DELETION_IMAGES;
  if (!Number.isInteger(wanted) || wanted < 1) throw new InputError(`deletion metric: images must be a positive integer, got ${options.images}`);
  const target = options.target ?? 'predicted';
  if (target !== 'predicted' && target !== 'label') throw new InputError(`deletion metric: target must be 'predicted' or 'label', got '${String(target)}'`);
  const batchSize = options.batchSize ?? DEFAULT_DELETION_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`deletion metric: batchSize must be a positive integer, got ${options.batchSize}`);
  const substrates: Partial<Record<CausalMode, Substrate>> = {};
  for (const m of modes) {
    const s = m === 'deletion' ? options.deletionSubstrate ?? 'zero' : options.insertionSubstrate ?? 'blur';
    if (s !== 'zero' && s !== 'mean' && s !== 'blur') throw new InputError(`deletion metric: ${m} substrate must be 'zero', 'mean' or 'blur', got '${String(s)}'`);
    substrates[m] = s;
  }
  const withPrototypes = options.prototypes ?? true;
  const pixelsPerStep = (ctx: NetworkEvaluationContext): { pps: number; steps: number } => {
    const { height, width } = ctx.model.input;
    const HW = height * width;
    const pps = options.pixelsPerStep ?? defaultPixelsPerStep(height, width);
    if (!Number.isInteger(pps) || pps < 1 || pps > HW) throw new InputError(`deletion metric: pixelsPerStep must be an integer in 1..${HW} (H x W), got ${options.pixelsPerStep}`);
    return { pps, steps: stepCount(HW, pps) };
  };
  const blurSigma = options.blurSigma ?? 5;
  const blurSize = options.blurSize ?? 11;
  const needsBlur = modes.some((m) => substrates[m] === 'blur');
  const metric = {
    name: 'deletion',
    async partial(ctx: NetworkEvaluationContext): Promise<DeletionPartial> {
      const { model } = ctx;
      const { channels, height, width, layout } = model.input;
      const shape: ImageShape = { channels, height, width, layout };
      const HW = height * width;
      const per = channels * HW;
      const C = model.numClasses;
      const k = model.prototypesPerClass;
      const [h, w] = model.mapSize;
      const { pps } = pixelsPerStep(ctx);
      // The scored images: evenly spaced over the selected images by ordinal, so a shard scores
      // exactly the chosen images in its range.
      const total = Math.min(wanted, ctx.imageCount);
      const chosenList = evenlySpaced(ctx.imageCount, total);
      const chosen = new Set(chosenList);
      const lastChosen = chosenList[chosenList.length - 1] ?? -1;
      options.onImage?.(0, total);
      const blur = needsBlur ? await GaussianBlur.create(channels, blurSigma, blurSize) : undefined;
      const perImage: DeletionImagePartial[] = [];
      let seconds = 0;
      let perturbed = 0;
      try {
        for await (const b of ctx.batches()) {
          const n = batchCount(b, ctx);
          const picks: number[] = [];
          for (let i = 0; i < n; i++) if (chosen.has(b.ordinals[i])) picks.push(i);
          if (picks.length === 0) {
            if (n > 0 && b.ordinals[n - 1] >= lastChosen) break;
            continue;
          }
          const t0 = performance.now();
          const targets = picks.map((i) => (target === 'label' ? b.labels[i] : argmaxRow(b.logits, i * C, C)));
          const feats = new Float32Array(picks.length * model.positions * model.featureDim);
          const fl = model.positions * model.featureDim;
          picks.forEach((i, j) => feats.set(b.features.subarray(i * fl, (i + 1) * fl), j * fl));
          const maps = (await model.setMaps(feats, picks.length, targets, ['refined'])).get('refined')!;
          for (let j = 0; j < picks.length; j++) {
            const i = picks[j];
            const c = targets[j];
            const image = b.tensor.slice(i * per, (i + 1) * per);
            const own = maps.subarray(j * k * h * w, (j + 1) * k * h * w);
            const orders: { key: SaliencyKey; order: Uint32Array }[] = [{ key: 'class', order: saliencyOrder(upsampleSaliency(classMap(own, k, h * w), [h, w], [height, width])) }];
            if (withPrototypes) for (let p = 0; p < k; p++) orders.push({ key: p, order: saliencyOrder(upsampleSaliency(own.subarray(p * h * w, (p + 1) * h * w), [h, w], [height, width])) });
            orders.push({ key: 'random', order: randomOrder(HW, new Rng(ctx.seed).fork(b.indices[i]).seed) });
            const score = async (batch: Float32Array, m: number): Promise<Float32Array> => {
              perturbed += m;
              const prob = await model.probabilities(batch, m);
              return Float32Array.from({ length: m }, (_, t) => prob[t * C + c]);
            };
            const result: DeletionImageResult = { id: b.ids[i], index: b.indices[i], target: c, auc: {} };
            const curves: DeletionImagePartial['curves'] = [];
            for (const mode of modes) {
              const base = await substrateImage(image, shape, substrates[mode]!, { blurSigma, blurSize, blur });
              const [start, finish] = mode === 'deletion' ? [image, base] : [base, image];
              const areas: { class: number; prototypes: number[]; random: number } = { class: NaN, prototypes: [], random: NaN };
              for (const { key, order } of orders) {
                const scores: number[] = [];
                for (const pb of perturbationBatches(start, finish, shape, order, pps, batchSize)) {
                  const p = await score(pb.images, pb.count);
                  for (let t = 0; t < pb.count; t++) {
                    if (!Number.isFinite(p[t])) throw new InputError(`deletion metric: image ${b.ids[i]}: the model's probability is ${p[t]} at step ${pb.firstStep + t}`);
                    scores.push(p[t]);
                  }
                }
                const auc = areaUnderCurve(scores);
                curves.push({ mode, saliency: key, scores });
                if (key === 'class') areas.class = auc;
                else if (key === 'random') areas.random = auc;
                else areas.prototypes.push(auc);
              }
              result.auc[mode] = areas;
            }
            perImage.push({ result, curves });
            options.onImage?.(perImage.length, total);
          }
          seconds += (performance.now() - t0) / 1000;
          ctx.onProgress?.(perImage.length);
          if (b.ordinals[n - 1] >= lastChosen) break;
        }
      } finally {
        await blur?.release();
      }
      return { images: perImage, seconds, perturbed };
    },
    merge(partials: readonly DeletionPartial[], ctx: NetworkEvaluationContext): DeletionReport {
      const { pps, steps } = pixelsPerStep(ctx);
      // Sums in image order (the order of one pass), so the means are the same numbers however the
      // images were split.
      const sums = new Map<string, { mode: CausalMode; saliency: SaliencyKey; curves: number; auc: number; curve: Float64Array }>();
      const perImage: DeletionImageResult[] = [];
      const beats: Record<string, number> = {};
      let seconds = 0;
      let perturbed = 0;
      for (const p of partials) {
        seconds += p.seconds;
        perturbed += p.perturbed;
        for (const { result, curves } of p.images) {
          for (const { mode, saliency, scores } of curves) {
            const key = `${mode}/${saliency}`;
            const g = sums.get(key) ?? { mode, saliency, curves: 0, auc: 0, curve: new Float64Array(steps + 1) };
            g.curves++;
            g.auc += areaUnderCurve(scores);
            for (let i = 0; i <= steps; i++) g.curve[i] += scores[i];
            sums.set(key, g);
          }
          for (const mode of modes) {
            const areas = result.auc[mode];
            if (!areas) continue;
            const better = mode === 'deletion' ? areas.class < areas.random : areas.class > areas.random;
            beats[mode] = (beats[mode] ?? 0) + (better ? 1 : 0);
          }
          perImage.push(result);
        }
      }
      if (perImage.length === 0) throw new InputError('deletion metric: no image was scored (the evaluation set has no images)');
      const summary: CurveSummary[] = [...sums.values()].map((g) => ({
        mode: g.mode,
        substrate: substrates[g.mode]!,
        saliency: g.saliency,
        curves: g.curves,
        meanAuc: g.auc / g.curves,
        meanCurve: Array.from(g.curve, (v) => v / g.curves),
      }));
      const classBeatsRandom: Partial<Record<CausalMode, number>> = {};
      for (const m of modes) classBeatsRandom[m] = (beats[m] ?? 0) / perImage.length;
      return {
        seed: ctx.seed,
        images: perImage.length,
        target,
        pixelsPerStep: pps,
        steps,
        batchSize,
        substrates,
        blur: needsBlur ? { sigma: blurSigma, size: blurSize } : null,
        summary,
        classBeatsRandom,
        perImage,
        seconds,
        imagesPerSecond: seconds > 0 ? perImage.length / seconds : 0,
        perturbedPerSecond: seconds > 0 ? perturbed / seconds : 0,
      };
    },
  };
  return { ...metric, run: runWhole(metric) };
}
