/**
 * Consistency and stability (method.md section 6) for several prototype sets side by side, from one
 * feature extraction: each batch's features give the ground-truth class's k maps for every set (one
 * engine call), and one perturbed forward pass per batch gives the noisy maps of every set. Options
 * are resolved as `partsMetric` resolves them (`partsRunSettings`), hits are scored with the protocol
 * core (`PartsScorer.imageRegions`) and accumulated per set (`PartsAccumulator`), so each set's
 * scores are exactly what `partsMetric` reports for it.
 *
 * Per image, the maps, peaks and hit vectors can be handed to a sink (`onImage`), which is how
 * `--out` writes them for anyone to recompute the scores.
 */
import type { PartLocation } from '../../data/types.ts';
import { InputError } from '../../util/errors.ts';
import { batchCount, type Metric } from '../context/metric.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';
import { perturbBatch } from '../protocols/noise.ts';
import { partsRunSettings, type PartsMetricOptions } from './parts.ts';
import { PartsAccumulator, STABILITY_RULE, visibleMask, type ConsistencyReport, type PartsVariant, type ResolvedPartsOptions, type StabilityReport, type StabilityVariant } from '../protocols/parts.ts';
import { PROTOTYPE_SET_LABELS, type PrototypeSetName } from '../context/prototype-sets.ts';

/** The options of `partsMetric`, and which sets to score and where each image's detail goes. */
export interface PartsSetsOptions extends PartsMetricOptions {
  /** Sets to score (default: every set the model holds, refined first). */
  sets?: readonly PrototypeSetName[];
  /** Receives each image's maps, peaks and hits, in stream order. */
  onImage?: (record: PartsImageRecord) => void;
}

/** One set's view of one image. */
export interface PartsSetImage {
  /** k x h x w maps at feature resolution (the ground-truth class's prototypes). */
  maps: Float32Array;
  /** k x 2: (row, column) of each map's first maximum after the cv2 bicubic upsampling, input pixels. */
  peaks: Int32Array;
  /** k x numParts 0/1. */
  hits: Uint8Array;
  noisyMaps?: Float32Array;
  noisyPeaks?: Int32Array;
  noisyHits?: Uint8Array;
}

/** What the sink receives per image. */
export interface PartsImageRecord {
  /** Dataset position. */
  index: number;
  id: string;
  label: number;
  /** Every annotated part in input pixels (the protocol's mapping), with its visible flag. */
  parts: readonly PartLocation[];
  /** numParts 0/1. */
  visible: Uint8Array;
  sets: Map<PrototypeSetName, PartsSetImage>;
}

/** Per part: how many prototypes reach the consistency threshold on it. */
export interface PartConsistency {
  partId: number;
  name: string | null;
  consistentPrototypes: number;
  /** 100 x consistentPrototypes / prototypes. */
  score: number;
}

export interface PartsSetScores {
  label: string;
  consistency: ConsistencyReport;
  stability?: StabilityReport;
  perPart: PartConsistency[];
}

export interface PartsSetsReport {
  variant: PartsVariant;
  /** Seed of the stability noise (each image's stream: new Rng(seed).fork(dataset position)). */
  seed: number;
  /** Seed of the random convex split. */
  randomSplitSeed: number;
  images: number;
  options: ResolvedPartsOptions & { partThreshold: number; stabilityVariant: StabilityVariant; noiseStd: number; noiseEps: number | null; stability: boolean };
  partNames: string[] | null;
  sets: Partial<Record<PrototypeSetName, PartsSetScores>>;
}

/** Per part id: prototypes whose hit rate on that part reaches the threshold. */
export function partConsistency(c: ConsistencyReport, numParts: number, partNames?: readonly string[]): PartConsistency[] {
  return Array.from({ length: numParts }, (_, p) => {
    const consistentPrototypes = c.perPrototype.filter((q) => q.rates[p] >= c.partThreshold).length;
    return { partId: p + 1, name: partNames?.[p] ?? null, consistentPrototypes, score: (100 * consistentPrototypes) / c.prototypes };
  });
}

/** The parts metric over prototype sets (name 'parts'). */
export function partsSetsMetric(options: PartsSetsOptions = {}): Metric<PartsSetsReport, NetworkEvaluationContext> {
  return {
    name: 'parts',
    async run(ctx: NetworkEvaluationContext): Promise<PartsSetsReport> {
      const { model } = ctx;
      const { scorer, resolved, partThreshold, noise, stabilityVariant, withStability, k, mapSize, per } = partsRunSettings(options, ctx);
      const P = resolved.numParts;
      const held = model.sets.map((s) => s.name);
      const sets = options.sets ?? held;
      for (const s of sets) if (!held.includes(s)) throw new InputError(`parts metric: prototype set '${s}' is not loaded (have ${held.join(', ')})`);
      if (sets.length === 0) throw new InputError('parts metric: no prototype set to score');
      const [h, w] = mapSize;
      const HW = h * w;
      const acc = new Map(sets.map((s) => [s, new PartsAccumulator(model.numClasses, k, P)]));

      const score = (maps: Float32Array, i: number, parts: readonly PartLocation[], what: string) => {
        const own = maps.subarray(i * k * HW, (i + 1) * k * HW);
        return { ...scorer.imageRegions(own, k, mapSize, parts, what), maps: own.slice() };
      };

      let images = 0;
      for await (const b of ctx.batches()) {
        const n = batchCount(b, ctx);
        if (n === 0) continue;
        const clean = await model.setMaps(b.features, n, b.labels, sets);
        let noisy: Map<PrototypeSetName, Float32Array> | undefined;
        if (withStability) {
          const { features } = await model.forward(perturbBatch(b.tensor, per, b.indices, noise), n);
          noisy = await model.setMaps(features, n, b.labels, sets);
        }
        for (let i = 0; i < n; i++) {
          const what = `image ${b.ids[i]}`;
          const parts = b.parts?.[i];
          if (!parts) throw new InputError(`${what}: no part annotations; consistency and stability need parts (CUB parts/part_locs.txt)`);
          const visible = visibleMask(parts, P, what);
          const record: PartsImageRecord = { index: b.indices[i], id: b.ids[i], label: b.labels[i], parts, visible, sets: new Map() };
          for (const s of sets) {
            const c = score(clean.get(s)!, i, parts, `${what} (${s})`);
            const entry: PartsSetImage = { maps: c.maps, peaks: c.peaks, hits: c.hits };
            if (noisy) {
              const q = score(noisy.get(s)!, i, parts, `${what} (${s}, perturbed)`);
              Object.assign(entry, { noisyMaps: q.maps, noisyPeaks: q.peaks, noisyHits: q.hits });
            }
            acc.get(s)!.add({ label: b.labels[i], visible, hits: entry.hits, noisyHits: entry.noisyHits }, what);
            record.sets.set(s, entry);
          }
          options.onImage?.(record);
        }
        images += n;
        ctx.onProgress?.(images);
      }
      if (images === 0) throw new InputError('parts metric: the evaluation set has no images');
      const out: PartsSetsReport['sets'] = {};
      for (const s of sets) {
        const a = acc.get(s)!;
        const consistency = a.consistency(partThreshold);
        out[s] = {
          label: PROTOTYPE_SET_LABELS[s],
          consistency,
          ...(withStability ? { stability: a.stability(STABILITY_RULE[stabilityVariant]) } : {}),
          perPart: partConsistency(consistency, P, ctx.partNames),
        };
      }
      return {
        variant: options.variant ?? 'strict',
        seed: ctx.seed,
        randomSplitSeed: model.randomSplitSeed,
        images,
        options: { ...resolved, partThreshold, stabilityVariant, noiseStd: noise.std, noiseEps: noise.eps, stability: withStability },
        partNames: ctx.partNames ? [...ctx.partNames] : null,
        sets: out,
      };
    },
  };
}
