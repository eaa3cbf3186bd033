/**
 * Purity (PIP-Net; protocols/purity.ts) for each prototype set, on a pass over the training images
 * (whole images stretched to the input, as the reference resizes them): every prototype of every
 * class keeps its top images (one onnxruntime output gives each prototype's maximum over positions and
 * where it is), then each prototype's patch in those images is checked against the annotated parts.
 * The partial of an image range is its top lists with the sizes and parts of the images in them, so
 * ranges (shards) merge into the lists of all images.
 */
import { InputError } from '../../util/errors.ts';
import type { PartLocation } from '../../data/types.ts';
import { batchCount, runWhole, type ShardableMetric } from '../context/metric.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';
import { PROTOTYPE_SET_LABELS, type PrototypeSetName } from '../context/prototype-sets.ts';
import { mergedParts, offerTop, prototypePurity, PURITY_TOP_K, REFERENCE_PATCH, type TopEntry } from '../protocols/purity.ts';

export interface PurityOptions {
  /** Sets to score (default: every set the model holds). */
  sets?: readonly PrototypeSetName[];
  /** Top images per prototype (default 10). */
  topK?: number;
  /** Receives the merged top lists and the sizes and parts of the images they hold (the audit export). */
  onTops?: (tops: PurityTops) => void;
}

/** Every set's merged top lists (per prototype c k + i, best first) and the images they name, by ordinal. */
export interface PurityTops {
  topK: number;
  lists: Partial<Record<PrototypeSetName, TopEntry[][]>>;
  sources: Record<string, PuritySource>;
}

/** What purity needs of a training image: its id, size and parts (source pixels). */
export interface PuritySource {
  id: string;
  width: number;
  height: number;
  parts: PartLocation[];
}

export interface PurityPartial {
  images: number;
  /** Per set, per prototype (c k + i), its top entries, best first. */
  tops: Partial<Record<PrototypeSetName, TopEntry[][]>>;
  /** Size and parts of every image some top list holds, by ordinal. */
  sources: Record<string, PuritySource>;
}

export interface PrototypePurity {
  class: number;
  prototype: number;
  purity: number;
  /** The part the purity is of (merged left/right name), or null when no part was visible. */
  part: string | null;
}

export interface PuritySetScores {
  label: string;
  /** Mean purity over prototypes, and its (population) standard deviation. */
  mean: number;
  std: number;
  prototypes: number;
  /** Prototypes with purity above 0.5. */
  above05: number;
  perPrototype: PrototypePurity[];
}

export interface PurityReport {
  /** Training images scanned for the top lists. */
  images: number;
  topK: number;
  /** Patch side at the input size (32 at 224). */
  patch: number;
  parts: string[];
  sets: Partial<Record<PrototypeSetName, PuritySetScores>>;
}

/** The purity metric (name 'purity'); its context streams the training images with their source parts. */
export function purityMetric(options: PurityOptions = {}): ShardableMetric<PurityPartial, PurityReport, NetworkEvaluationContext> {
  const topK = options.topK ?? PURITY_TOP_K;
  if (!Number.isInteger(topK) || topK < 1) throw new InputError(`purity: topK must be a positive integer, got ${options.topK}`);
  const setsOf = (ctx: NetworkEvaluationContext) => {
    const held = ctx.model.sets.map((s) => s.name);
    const sets = options.sets ?? held;
    for (const s of sets) if (!held.includes(s)) throw new InputError(`purity: prototype set '${s}' is not loaded (have ${held.join(', ')})`);
    return sets;
  };
  const metric = {
    name: 'purity',
    async partial(ctx: NetworkEvaluationContext): Promise<PurityPartial> {
      const { model } = ctx;
      const sets = setsOf(ctx);
      const P = model.numClasses * model.prototypesPerClass;
      const [, w] = model.mapSize;
      const tops = Object.fromEntries(sets.map((s) => [s, Array.from({ length: P }, () => [] as TopEntry[])])) as Record<PrototypeSetName, TopEntry[][]>;
      const info = new Map<number, PuritySource>();
      let images = 0;
      for await (const b of ctx.batches()) {
        const n = batchCount(b, ctx);
        if (n === 0) continue;
        for (let i = 0; i < n; i++) {
          const parts = b.sourceParts?.[i];
          if (!parts) throw new InputError(`purity: image ${b.ids[i]} has no part annotations (purity needs CUB parts/part_locs.txt for the training images)`);
          info.set(b.ordinals[i], { id: b.ids[i], ...b.sources![i], parts: [...parts] });
        }
        const g = await model.globalMax(b.features, n, sets);
        for (const s of sets) {
          const { max, argmax } = g.get(s)!;
          const list = tops[s];
          for (let i = 0; i < n; i++) {
            for (let p = 0; p < P; p++) {
              const pos = Number(argmax[i * P + p]);
              offerTop(list[p], { score: max[i * P + p], ordinal: b.ordinals[i], row: Math.floor(pos / w), col: pos % w }, topK);
            }
          }
        }
        images += n;
        ctx.onProgress?.(images);
      }
      // Keep the sources of the images the lists hold (the rest cannot be needed by a merge).
      const sources: PurityPartial['sources'] = {};
      for (const s of sets) for (const l of tops[s]) for (const e of l) sources[e.ordinal] = info.get(e.ordinal)!;
      return { images, tops, sources };
    },
    merge(partials: readonly PurityPartial[], ctx: NetworkEvaluationContext): PurityReport {
      const { model } = ctx;
      const sets = setsOf(ctx);
      const k = model.prototypesPerClass;
      const P = model.numClasses * k;
      const images = partials.reduce((a, p) => a + p.images, 0);
      if (images === 0) throw new InputError('purity: no training image was scanned');
      const partNames = ctx.partNames ? [...ctx.partNames] : [];
      if (partNames.length === 0) throw new InputError('purity: the dataset has no part names (CUB parts/parts.txt)');
      const merged = mergedParts(partNames);
      const { height: H, width: W } = model.input;
      const out: PurityReport['sets'] = {};
      const exported: PurityTops = { topK, lists: {}, sources: {} };
      for (const s of sets) {
        const perPrototype: PrototypePurity[] = [];
        const lists: TopEntry[][] = [];
        for (let p = 0; p < P; p++) {
          const list: TopEntry[] = [];
          for (const q of partials) for (const e of q.tops[s]?.[p] ?? []) offerTop(list, e, topK);
          lists.push(list);
          const imgs = list.map((e) => {
            const src = partials.map((q) => q.sources[e.ordinal]).find((x) => x !== undefined);
            if (!src) throw new InputError(`purity: the partial results lack image ${e.ordinal}'s parts`);
            exported.sources[e.ordinal] = src;
            return { ...src, row: e.row, col: e.col };
          });
          // k 'auto': the padded rows of a class with fewer prototypes are not prototypes.
          if (p % k >= (model.prototypeCounts?.[Math.floor(p / k)] ?? k)) continue;
          const r = prototypePurity(imgs, model.mapSize, [H, W], merged);
          perPrototype.push({ class: Math.floor(p / k), prototype: p % k, purity: r.purity, part: r.part });
        }
        const values = perPrototype.map((q) => q.purity);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
        out[s] = { label: PROTOTYPE_SET_LABELS[s], mean, std, prototypes: values.length, above05: values.filter((v) => v > 0.5).length, perPrototype };
        exported.lists[s] = lists;
      }
      options.onTops?.(exported);
      return { images, topK, patch: Math.max(1, Math.round((REFERENCE_PATCH * Math.min(H, W)) / 224)), parts: merged.map((m) => m.name), sets: out };
    },
  };
  return { ...metric, run: runWhole(metric) };
}
