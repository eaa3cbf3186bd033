/**
 * Fidelity: the prototype network must be the black box. On the same images, the black box's own
 * logits (the plain model in its own session) and the prototype network's logits (contributions
 * summed + residual term + bias, rebuilt from the features and the stored prototypes) give top-1 and
 * top-5 accuracy each, the fraction of images where both predict the same class (must be 100%), and
 * the largest logit difference. The metric passes when every prediction agrees and every logit
 * difference is within the tolerance: |difference| <= tolerance x max(1, |logit|).
 */
import { InputError } from '../../util/errors.ts';
import { batchCount, runWhole, type ShardableMetric } from '../context/metric.ts';
import type { HeadDifference } from '../../network/open.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';

/** Default relative tolerance of the logit comparison (float32 logits carry about 7 digits). */
export const DEFAULT_FIDELITY_TOLERANCE = 1e-4;
/** Disagreeing images listed in the report (all are counted). */
export const LISTED_DISAGREEMENTS = 20;

export interface FidelityOptions {
  /** Relative tolerance on the logit difference (default 1e-4). */
  tolerance?: number;
}

export interface Accuracy {
  top1: number;
  /** null when the model has fewer than 5 classes. */
  top5: number | null;
}

export interface FidelityReport {
  images: number;
  classes: number;
  /** Where the black box's logits come from: the plain model ('plain') or the adapter session. */
  blackBox: Accuracy & { session: 'plain' | 'adapter' };
  prototypeNetwork: Accuracy & { residualTerm: boolean };
  /** Fraction of images where both predict the same class (ties: the lowest class index). */
  agreement: number;
  disagreementCount: number;
  disagreements: { id: string; blackBox: number; prototypeNetwork: number }[];
  maxAbsLogitDiff: number;
  /** max over images and classes of |difference| / max(1, |black-box logit|). */
  maxRelLogitDiff: number;
  /** The image holding the largest relative difference. */
  worstImage: string | null;
  tolerance: number;
  /** The model's head against the network's recorded head. */
  headDifference: HeadDifference;
  pass: boolean;
  /** Why it failed, or null. */
  failure: string | null;
}

/** Rank of class y in a row of logits: classes with a larger logit, plus equal ones with a lower index. */
export function classRank(logits: ArrayLike<number>, offset: number, C: number, y: number): number {
  const v = logits[offset + y];
  let r = 0;
  for (let c = 0; c < C; c++) {
    const u = logits[offset + c];
    if (u > v || (u === v && c < y)) r++;
  }
  return r;
}

/** Index of the largest value (the first on ties). */
export function argmaxRow(logits: ArrayLike<number>, offset: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (logits[offset + c] > logits[offset + best]) best = c;
  return best;
}

/** What fidelity keeps from a range of images (counts, the largest differences, the first disagreements). */
export interface FidelityPartial {
  images: number;
  bb1: number;
  bb5: number;
  pn1: number;
  pn5: number;
  agree: number;
  nonFinite: number;
  maxAbs: number;
  maxRel: number;
  worstImage: string | null;
  disagreementCount: number;
  disagreements: FidelityReport['disagreements'];
}

/** The fidelity metric (name 'fidelity'). */
export function fidelityMetric(options: FidelityOptions = {}): ShardableMetric<FidelityPartial, FidelityReport, NetworkEvaluationContext> {
  const tolerance = options.tolerance ?? DEFAULT_FIDELITY_TOLERANCE;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) throw new InputError(`fidelity: tolerance must be a finite number >= 0, got ${options.tolerance}`);
  const metric = {
    name: 'fidelity',
    async partial(ctx: NetworkEvaluationContext): Promise<FidelityPartial> {
      const { model } = ctx;
      const C = model.numClasses;
      const p: FidelityPartial = { images: 0, bb1: 0, bb5: 0, pn1: 0, pn5: 0, agree: 0, nonFinite: 0, maxAbs: 0, maxRel: 0, worstImage: null, disagreementCount: 0, disagreements: [] };
      for await (const b of ctx.batches()) {
        const n = batchCount(b, ctx);
        if (n === 0) continue;
        const pn = (await model.decompose(b.features, n)).logits;
        for (let i = 0; i < n; i++) {
          const o = i * C;
          const y = b.labels[i];
          if (!Number.isInteger(y) || y < 0 || y >= C) throw new InputError(`image ${b.ids[i]}: label ${y} outside 0..${C - 1}`);
          const rb = classRank(b.logits, o, C, y);
          const rp = classRank(pn, o, C, y);
          if (rb === 0) p.bb1++;
          if (rb < 5) p.bb5++;
          if (rp === 0) p.pn1++;
          if (rp < 5) p.pn5++;
          const pb = argmaxRow(b.logits, o, C);
          const pp = argmaxRow(pn, o, C);
          if (pb === pp) p.agree++;
          else {
            p.disagreementCount++;
            if (p.disagreements.length < LISTED_DISAGREEMENTS) p.disagreements.push({ id: b.ids[i], blackBox: pb, prototypeNetwork: pp });
          }
          for (let c = 0; c < C; c++) {
            const d = Math.abs(pn[o + c] - b.logits[o + c]);
            if (!Number.isFinite(d)) {
              p.nonFinite++;
              continue;
            }
            if (d > p.maxAbs) p.maxAbs = d;
            const rel = d / Math.max(1, Math.abs(b.logits[o + c]));
            if (rel > p.maxRel) {
              p.maxRel = rel;
              p.worstImage = b.ids[i];
            }
          }
        }
        p.images += n;
        ctx.onProgress?.(p.images);
      }
      return p;
    },
    merge(partials: readonly FidelityPartial[], ctx: NetworkEvaluationContext): FidelityReport {
      const { model } = ctx;
      const C = model.numClasses;
      // Counts add; the largest differences and the listed disagreements are taken in image order,
      // first on ties, as one pass over all images would.
      const t: FidelityPartial = { images: 0, bb1: 0, bb5: 0, pn1: 0, pn5: 0, agree: 0, nonFinite: 0, maxAbs: 0, maxRel: 0, worstImage: null, disagreementCount: 0, disagreements: [] };
      for (const p of partials) {
        for (const key of ['images', 'bb1', 'bb5', 'pn1', 'pn5', 'agree', 'nonFinite', 'disagreementCount'] as const) t[key] += p[key];
        if (p.maxAbs > t.maxAbs) t.maxAbs = p.maxAbs;
        if (p.maxRel > t.maxRel) {
          t.maxRel = p.maxRel;
          t.worstImage = p.worstImage;
        }
        for (const d of p.disagreements) if (t.disagreements.length < LISTED_DISAGREEMENTS) t.disagreements.push(d);
      }
      const { images, agree, disagreementCount, nonFinite, maxAbs, maxRel, worstImage } = t;
      if (images === 0) throw new InputError('fidelity: the evaluation set has no images');
      const acc = (hits: number) => hits / images;
      const agreement = agree / images;
      const reasons: string[] = [];
      if (agree !== images) reasons.push(`the prototype network predicts another class than the black box on ${disagreementCount} of ${images} images (agreement ${(100 * agreement).toFixed(2)}%)`);
      if (nonFinite > 0) reasons.push(`${nonFinite} logits are not finite numbers`);
      if (!(maxRel <= tolerance)) reasons.push(`logits differ by up to ${maxAbs.toExponential(3)} (relative ${maxRel.toExponential(3)} > tolerance ${tolerance}, image ${worstImage})`);
      return {
        images,
        classes: C,
        blackBox: { session: model.blackBoxSession, top1: acc(t.bb1), top5: C >= 5 ? acc(t.bb5) : null },
        prototypeNetwork: { top1: acc(t.pn1), top5: C >= 5 ? acc(t.pn5) : null, residualTerm: model.hasResidual },
        agreement,
        disagreementCount,
        disagreements: t.disagreements,
        maxAbsLogitDiff: maxAbs,
        maxRelLogitDiff: maxRel,
        worstImage,
        tolerance,
        headDifference: model.headDifference,
        pass: reasons.length === 0,
        failure: reasons.length ? reasons.join('; ') : null,
      };
    },
  };
  return { ...metric, run: runWhole(metric) };
}
