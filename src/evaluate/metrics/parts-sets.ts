/**
 * Consistency and stability (method.md section 6) for several prototype sets side by side, from one
 * feature extraction: each batch's features give the ground-truth class's k maps for every set (one
 * engine call), and one perturbed forward pass per batch gives the noisy maps of every set. Options
 * are resolved as `partsMetric` resolves them (`partsRunSettings`), hits are scored with the protocol
 * core (`PartsScorer.imageRegions`) and accumulated per set (`PartsAccumulator`), so each set's
 * scores are exactly what `partsMetric` reports for it.
 *
 * The per-image rows (hit vectors, and with `keepMaps` the maps and peaks) are the metric's partial
 * result: merged rows of consecutive image ranges give the scores (sharded evaluations), and are
 * handed to `onRows`, which is how `--out` writes them for anyone to recompute the scores.
 */
import type { PartLocation } from '../../data/types.ts';
import { InputError } from '../../util/errors.ts';
import { batchCount, runWhole, type ShardableMetric } from '../context/metric.ts';
import { concatRows, partsRows, type PartsRows, type PartsRowsLayout } from './parts-rows.ts';
import { boxSizeFor, mapForeground, mapPeaks, maskIoU, meanPairIoU, REFERENCE_MAP_THRESHOLD, REFERENCE_MASK_THRESHOLD, upsampleMaps } from '../protocols/regions.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';
import { perturbBatch } from '../protocols/noise.ts';
import { partsRunSettings, type PartsMetricOptions } from './parts.ts';
import { PartsAccumulator, STABILITY_RULE, visibleMask, type ConsistencyReport, type PartsVariant, type ResolvedPartsOptions, type StabilityReport, type StabilityVariant } from '../protocols/parts.ts';
import { PROTOTYPE_SET_LABELS, type PrototypeSetName } from '../context/prototype-sets.ts';

/** The options of `partsMetric`, and which sets to score and where each image's detail goes. */
export interface PartsSetsOptions extends PartsMetricOptions {
  /** Sets to score (default: every set the model holds, refined first). */
  sets?: readonly PrototypeSetName[];
  /** Keep each image's maps and peaks in the rows (for the maps export); the hits are always kept. */
  keepMaps?: boolean;
  /** Also distinctiveness (PNP; protocols/regions.ts) per set. */
  distinctiveness?: boolean;
  /** Also comprehensiveness (PNP): needs each batch's foreground masks. */
  comprehensiveness?: boolean;
  /** Receives the merged rows of every image, in stream order, when the report is made. */
  onRows?: (rows: PartsRows) => void;
}

/** What the parts metric keeps from a range of images: its rows. */
export interface PartsSetsPartial {
  images: number;
  rows: PartsRows;
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
  /** k x 2: first maximum of each map after PyTorch's bilinear upsampling (distinctiveness's box centres). */
  regionPeaks?: Int32Array;
  /** Mean IoU of the pairs of boxes on `regionPeaks` (NaN for k < 2). */
  pairIoU?: number;
  /** IoU of the maps' thresholded union with the foreground mask (NaN: the image has no mask). */
  foregroundIoU?: number;
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

/** Distinctiveness of a set: 100 x (1 - mean over images of the mean pairwise box IoU). */
export interface DistinctivenessReport {
  /** null when no image has a pair of boxes (k < 2). */
  score: number | null;
  meanPairIoU: number | null;
  images: number;
  boxSize: number;
  /** Per class: the same over the class's images (score null: no image). */
  perClass: ClassRegionScore[];
}

/** Comprehensiveness of a set: 100 x mean over images of IoU(union of thresholded maps, foreground). */
export interface ComprehensivenessReport {
  /** null when no image has a mask. */
  score: number | null;
  meanIoU: number | null;
  images: number;
  imagesWithoutMask: number;
  mapThreshold: number;
  maskThreshold: number;
  /** Per class: the same over the class's images with a mask (score null: none). */
  perClass: ClassRegionScore[];
}

/** A score over one class's images. */
export interface ClassRegionScore {
  class: number;
  images: number;
  score: number | null;
}

export interface PartsSetScores {
  label: string;
  consistency: ConsistencyReport;
  stability?: StabilityReport;
  perPart: PartConsistency[];
  distinctiveness?: DistinctivenessReport;
  comprehensiveness?: ComprehensivenessReport;
}

export interface PartsSetsReport {
  variant: PartsVariant;
  /** Seed of the stability noise (each image's stream: new Rng(seed).fork(dataset position)). */
  seed: number;
  /** Seed of the random convex split. */
  randomSplitSeed: number;
  images: number;
  options: ResolvedPartsOptions & { partThreshold: number; stabilityVariant: StabilityVariant; noiseStd: number; noiseEps: number | null; stability: boolean; distinctiveness: boolean; comprehensiveness: boolean; boxSize: number };
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
export function partsSetsMetric(options: PartsSetsOptions = {}): ShardableMetric<PartsSetsPartial, PartsSetsReport, NetworkEvaluationContext> {
  const settings = (ctx: NetworkEvaluationContext) => {
    const s = partsRunSettings(options, ctx);
    const held = ctx.model.sets.map((x) => x.name);
    const sets = options.sets ?? held;
    for (const x of sets) if (!held.includes(x)) throw new InputError(`parts metric: prototype set '${x}' is not loaded (have ${held.join(', ')})`);
    if (sets.length === 0) throw new InputError('parts metric: no prototype set to score');
    const regions = { distinctiveness: options.distinctiveness ?? false, comprehensiveness: options.comprehensiveness ?? false };
    const layout: PartsRowsLayout = { sets, k: s.k, numParts: s.resolved.numParts, mapSize: s.mapSize, noisy: s.withStability, maps: options.keepMaps ?? false, ...regions };
    const { height: H, width: W } = ctx.model.input;
    return { ...s, sets, layout, regions, boxSize: boxSizeFor(H, W) };
  };
  const metric = {
    name: 'parts',
    async partial(ctx: NetworkEvaluationContext): Promise<PartsSetsPartial> {
      const { model } = ctx;
      const { scorer, resolved, noise, withStability, k, mapSize, per, sets, layout, regions, boxSize } = settings(ctx);
      const { height: H, width: W } = model.input;
      const P = resolved.numParts;
      const [h, w] = mapSize;
      const HW = h * w;
      const records: PartsImageRecord[] = [];

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
          // The noised copy needs features only: the adapter session, no black-box run.
          const { features } = await model.adapterForward(perturbBatch(b.tensor, per, b.indices, noise), n);
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
            const entry: PartsSetImage = layout.maps ? { maps: c.maps, peaks: c.peaks, hits: c.hits } : { maps: EMPTY_MAPS, peaks: EMPTY_PEAKS, hits: c.hits };
            if (regions.distinctiveness || regions.comprehensiveness) {
              // k 'auto': only the class's own prototypes (the first kc maps); padded peaks are -1.
              const kc = model.prototypeCounts?.[b.labels[i]] ?? k;
              const up = upsampleMaps(c.maps, kc, h, w, H, W);
              if (regions.distinctiveness) {
                const peaks = mapPeaks(up, kc, H, W);
                entry.regionPeaks = kc === k ? peaks : Int32Array.from({ length: 2 * k }, (_, x) => (x < 2 * kc ? peaks[x] : -1));
                entry.pairIoU = meanPairIoU(peaks, kc, boxSize);
              }
              if (regions.comprehensiveness) {
                const mask = b.masks?.[i];
                entry.foregroundIoU = mask ? maskIoU(mapForeground(up, kc, H, W), mask) : NaN;
              }
            }
            if (noisy) {
              const q = score(noisy.get(s)!, i, parts, `${what} (${s}, perturbed)`);
              Object.assign(entry, layout.maps ? { noisyMaps: q.maps, noisyPeaks: q.peaks, noisyHits: q.hits } : { noisyHits: q.hits });
            }
            record.sets.set(s, entry);
          }
          records.push(record);
        }
        images += n;
        ctx.onProgress?.(images);
      }
      return { images, rows: partsRows(records, layout) };
    },
    merge(partials: readonly PartsSetsPartial[], ctx: NetworkEvaluationContext): PartsSetsReport {
      const { model } = ctx;
      const { resolved, partThreshold, noise, stabilityVariant, withStability, k, sets, regions, boxSize } = settings(ctx);
      const P = resolved.numParts;
      const images = partials.reduce((n, p) => n + p.images, 0);
      if (images === 0) throw new InputError('parts metric: the evaluation set has no images');
      const rows = concatRows(partials.map((p) => p.rows));
      const { tensors, ids } = rows;
      const labels = tensors.labels.data as Int32Array;
      const visible = tensors.visible.data as Uint8Array;
      const acc = new Map(sets.map((s) => [s, new PartsAccumulator(model.numClasses, k, P, model.prototypeCounts ?? null)]));
      for (const s of sets) {
        const hits = tensors[`hits_${s}`]?.data as Uint8Array | undefined;
        const noisyHits = tensors[`noisy_hits_${s}`]?.data as Uint8Array | undefined;
        if (!hits || (withStability && !noisyHits)) throw new InputError(`parts metric: the partial results hold no ${hits ? 'noisy ' : ''}hits of set '${s}'`);
        const a = acc.get(s)!;
        for (let n = 0; n < ids.length; n++) {
          const obs = { label: labels[n], visible: visible.subarray(n * P, (n + 1) * P), hits: hits.subarray(n * k * P, (n + 1) * k * P) };
          a.add(withStability ? { ...obs, noisyHits: noisyHits!.subarray(n * k * P, (n + 1) * k * P) } : obs, `image ${ids[n]} (${s})`);
        }
      }
      options.onRows?.(rows);
      const regionScores = (s: PrototypeSetName): Pick<PartsSetScores, 'distinctiveness' | 'comprehensiveness'> => {
        const r: Pick<PartsSetScores, 'distinctiveness' | 'comprehensiveness'> = {};
        // Sums in row (image) order, so shards merge into the same numbers.
        const mean = (name: string, score: (m: number) => number) => {
          const v = tensors[name]?.data as Float64Array | undefined;
          if (!v) throw new InputError(`parts metric: the partial results hold no '${name}'`);
          let sum = 0;
          let n = 0;
          const classSum = new Float64Array(model.numClasses);
          const classN = new Int32Array(model.numClasses);
          v.forEach((x, row) => {
            if (Number.isNaN(x)) return;
            sum += x;
            n++;
            classSum[labels[row]] += x;
            classN[labels[row]]++;
          });
          const perClass: ClassRegionScore[] = Array.from(classN, (cn, c) => ({ class: c, images: cn, score: cn > 0 ? score(classSum[c] / cn) : null }));
          return { mean: n > 0 ? sum / n : null, n, missing: v.length - n, perClass };
        };
        if (regions.distinctiveness) {
          const m = mean(`pair_iou_${s}`, (x) => 100 * (1 - x));
          r.distinctiveness = { score: m.mean === null ? null : 100 * (1 - m.mean), meanPairIoU: m.mean, images: m.n, boxSize, perClass: m.perClass };
        }
        if (regions.comprehensiveness) {
          const m = mean(`foreground_iou_${s}`, (x) => 100 * x);
          r.comprehensiveness = { score: m.mean === null ? null : 100 * m.mean, meanIoU: m.mean, images: m.n, imagesWithoutMask: m.missing, mapThreshold: REFERENCE_MAP_THRESHOLD, maskThreshold: REFERENCE_MASK_THRESHOLD, perClass: m.perClass };
        }
        return r;
      };
      const out: PartsSetsReport['sets'] = {};
      for (const s of sets) {
        const a = acc.get(s)!;
        const consistency = a.consistency(partThreshold);
        out[s] = {
          label: PROTOTYPE_SET_LABELS[s],
          consistency,
          ...(withStability ? { stability: a.stability(STABILITY_RULE[stabilityVariant]) } : {}),
          perPart: partConsistency(consistency, P, ctx.partNames),
          ...regionScores(s),
        };
      }
      return {
        variant: options.variant ?? 'strict',
        seed: ctx.seed,
        randomSplitSeed: model.randomSplitSeed,
        images,
        options: { ...resolved, partThreshold, stabilityVariant, noiseStd: noise.std, noiseEps: noise.eps, stability: withStability, ...regions, boxSize },
        partNames: ctx.partNames ? [...ctx.partNames] : null,
        sets: out,
      };
    },
  };
  return { ...metric, run: runWhole(metric) };
}

const EMPTY_MAPS = new Float32Array(0);
const EMPTY_PEAKS = new Int32Array(0);
