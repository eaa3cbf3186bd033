/**
 * The explainability axioms (method.md section 6) checked numerically on real test images, with the
 * model's real features:
 *
 * - completeness, on every image and every class: the contributions the prototype network reports
 *   (the engine's, from the features) plus the residual term and the bias equal the black box's own
 *   logit. This is the guarantee a tampered or mismatched network breaks;
 * - linearity, sensitivity and symmetry, on the first `images` images and their predicted class,
 *   with the decomposition's contribution function in float64 (`linearContributions`): linearity on
 *   a * x1 + b * x2 of consecutive images' features (a, b seeded per image in [-2, 2]); sensitivity
 *   against the features of an all-zero input tensor (the normalisation mean colour), run through the
 *   model; symmetry among the class's identical prototypes (usually none: it then passes with 0 checks).
 *
 * Each axiom reports pass/fail, the worst error against its tolerance (tolerance x max(1, scale), see
 * protocols/axioms.ts) and where it occurred.
 */
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';
import { checkCompleteness, checkLinearity, checkSensitivity, checkSymmetry, DEFAULT_AXIOM_TOLERANCE, type AxiomName, type AxiomResult } from '../protocols/axioms.ts';
import { argmaxRow } from './fidelity.ts';
import { batchCount, runWhole, type ShardableMetric } from '../context/metric.ts';
import type { NetworkEvaluationContext } from '../context/network-model.ts';

/** Images given linearity, sensitivity and symmetry checks by default (completeness: every image). */
export const DEFAULT_AXIOM_IMAGES = 32;

export interface AxiomsOptions {
  /** Images for linearity, sensitivity and symmetry (default 32; completeness uses every image). */
  images?: number;
  /** Relative tolerance (default 1e-4). */
  tolerance?: number;
}

export interface AxiomSummary {
  axiom: AxiomName;
  pass: boolean;
  /** Images the axiom was checked on. */
  images: number;
  checks: number;
  /** The error with the largest error / tolerance ratio, and its tolerance. */
  worstError: number;
  tolerance: number;
  /** Where the worst error occurred, with the check's detail. */
  worst: { id: string; class: number; detail: string } | null;
  /** Failing cases (an image and class whose check failed). */
  failures: number;
}

export interface AxiomsReport {
  tolerance: number;
  seed: number;
  /** What the sensitivity baseline is. */
  baseline: string;
  axioms: AxiomSummary[];
  pass: boolean;
  /** Failing axioms with their worst case, or null. */
  failure: string | null;
}

/** One axiom's running count and worst case; JSON-safe (see io/json-numbers.ts for the NaN and Infinity it may hold). */
export interface TallyState {
  images: number;
  checks: number;
  failures: number;
  worstError: number;
  tolerance: number;
  /** worstError / tolerance of the worst case (Infinity for a NaN error), -1 before any check. */
  ratio: number;
  worst: AxiomSummary['worst'];
}

class Tally {
  readonly s: TallyState = { images: 0, checks: 0, failures: 0, worstError: 0, tolerance: 0, ratio: -1, worst: null };
  constructor(readonly axiom: AxiomName) {}
  add(r: AxiomResult, id: string, c: number): void {
    const s = this.s;
    s.checks += r.checks;
    if (!r.pass) s.failures++;
    if (r.checks === 0) return;
    const ratio = r.worstError / Math.max(r.tolerance, 1e-300);
    if (ratio > s.ratio || Number.isNaN(r.worstError)) {
      s.ratio = Number.isNaN(r.worstError) ? Infinity : ratio;
      s.worstError = r.worstError;
      s.tolerance = r.tolerance;
      s.worst = { id, class: c, detail: r.detail };
    }
  }
  /**
   * Add the tally of the images that follow. The worst case is the one a single pass would keep: a
   * NaN error always replaces (so the last NaN wins), otherwise a strictly larger ratio.
   */
  merge(u: TallyState): void {
    const s = this.s;
    s.images += u.images;
    s.checks += u.checks;
    s.failures += u.failures;
    if (u.worst !== null && (u.ratio > s.ratio || Number.isNaN(u.worstError))) Object.assign(s, { ratio: u.ratio, worstError: u.worstError, tolerance: u.tolerance, worst: u.worst });
  }
  summary(): AxiomSummary {
    const s = this.s;
    return { axiom: this.axiom, pass: s.failures === 0, images: s.images, checks: s.checks, worstError: s.worstError, tolerance: s.tolerance, worst: s.worst, failures: s.failures };
  }
}

const AXIOM_ORDER: readonly AxiomName[] = ['completeness', 'linearity', 'sensitivity', 'symmetry'];
const tallies = (): Record<AxiomName, Tally> => Object.fromEntries(AXIOM_ORDER.map((a) => [a, new Tally(a)])) as Record<AxiomName, Tally>;

/** What the axioms keep from a range of images: one tally per axiom. */
export interface AxiomsPartial {
  images: number;
  tallies: Record<AxiomName, TallyState>;
}

/** The axioms metric (name 'axioms'). */
export function axiomsMetric(options: AxiomsOptions = {}): ShardableMetric<AxiomsPartial, AxiomsReport, NetworkEvaluationContext> {
  const tolerance = options.tolerance ?? DEFAULT_AXIOM_TOLERANCE;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) throw new InputError(`axioms: tolerance must be a finite number >= 0, got ${options.tolerance}`);
  const detailed = options.images ?? DEFAULT_AXIOM_IMAGES;
  if (!Number.isInteger(detailed) || detailed < 1) throw new InputError(`axioms: images must be an integer >= 1 (linearity, sensitivity and symmetry need images to check), got ${options.images}`);
  const metric = {
    name: 'axioms',
    async partial(ctx: NetworkEvaluationContext): Promise<AxiomsPartial> {
      const { model } = ctx;
      const C = model.numClasses;
      const k = model.prototypesPerClass;
      const HW = model.positions;
      const D = model.featureDim;
      const { channels, height, width } = model.input;
      const t = tallies();
      const baseline = detailed > 0 ? (await model.forward(new Float32Array(channels * height * width), 1)).features : new Float32Array(HW * D);
      let previous: Float32Array | null = null;
      let images = 0;
      for await (const b of ctx.batches()) {
        const n = batchCount(b, ctx);
        if (n === 0) continue;
        const dec = await model.decompose(b.features, n);
        for (let i = 0; i < n; i++) {
          const id = b.ids[i];
          const x = b.features.subarray(i * HW * D, (i + 1) * HW * D);
          for (let c = 0; c < C; c++) {
            const d = model.decomposition(c);
            const engine = Float64Array.from(dec.contributions.subarray((i * C + c) * k, (i * C + c + 1) * k));
            const withResidual = { ...d, bias: d.bias + dec.residual[i * C + c] };
            t.completeness.add(checkCompleteness(x, HW, withResidual, b.logits[i * C + c], { contribute: () => engine, tolerance }), id, c);
          }
          t.completeness.s.images++;
          // The first `detailed` selected images (by ordinal, so a shard holding them checks the same ones).
          if (b.ordinals[i] < detailed) {
            const c = argmaxRow(b.logits, i * C, C);
            const d = model.decomposition(c);
            if (previous) {
              const rng = new Rng(ctx.seed).fork(b.indices[i]);
              const a1 = rng.uniform(-2, 2);
              const a2 = rng.uniform(-2, 2);
              t.linearity.add(checkLinearity(x, previous, HW, a1, a2, d, { tolerance }), id, c);
              t.linearity.s.images++;
            }
            t.sensitivity.add(checkSensitivity(x, baseline, HW, d, { tolerance }), id, c);
            t.sensitivity.s.images++;
            t.symmetry.add(checkSymmetry(x, HW, d, { tolerance }), id, c);
            t.symmetry.s.images++;
            previous = Float32Array.from(x);
          }
          images++;
        }
        ctx.onProgress?.(images);
      }
      return { images, tallies: Object.fromEntries(AXIOM_ORDER.map((a) => [a, t[a].s])) as Record<AxiomName, TallyState> };
    },
    merge(partials: readonly AxiomsPartial[], ctx: NetworkEvaluationContext): AxiomsReport {
      const t = tallies();
      let images = 0;
      for (const p of partials) {
        images += p.images;
        for (const a of AXIOM_ORDER) t[a].merge(p.tallies[a]);
      }
      if (images === 0) throw new InputError('axioms: the evaluation set has no images');
      const axioms = AXIOM_ORDER.map((a) => t[a].summary());
      const failed = axioms.filter((a) => !a.pass);
      return {
        tolerance,
        seed: ctx.seed,
        baseline: 'features of an all-zero input tensor (the normalisation mean colour)',
        axioms,
        pass: failed.length === 0,
        failure: failed.length
          ? failed.map((a) => `${a.axiom} fails in ${a.failures} case(s) of ${a.images} image(s) (worst error ${a.worstError.toExponential(3)} > ${a.tolerance.toExponential(3)}, image ${a.worst?.id}, class ${a.worst?.class}: ${a.worst?.detail})`).join('; ')
          : null,
      };
    },
  };
  return { ...metric, run: runWhole(metric) };
}
