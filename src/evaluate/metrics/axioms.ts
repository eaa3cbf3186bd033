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
import { batchCount, type Metric } from '../context/metric.ts';
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

class Tally {
  images = 0;
  checks = 0;
  failures = 0;
  worstError = 0;
  tolerance = 0;
  private ratio = -1;
  worst: AxiomSummary['worst'] = null;
  constructor(readonly axiom: AxiomName) {}
  add(r: AxiomResult, id: string, c: number): void {
    this.checks += r.checks;
    if (!r.pass) this.failures++;
    if (r.checks === 0) return;
    const ratio = r.worstError / Math.max(r.tolerance, 1e-300);
    if (ratio > this.ratio || Number.isNaN(r.worstError)) {
      this.ratio = Number.isNaN(r.worstError) ? Infinity : ratio;
      this.worstError = r.worstError;
      this.tolerance = r.tolerance;
      this.worst = { id, class: c, detail: r.detail };
    }
  }
  summary(): AxiomSummary {
    return { axiom: this.axiom, pass: this.failures === 0, images: this.images, checks: this.checks, worstError: this.worstError, tolerance: this.tolerance, worst: this.worst, failures: this.failures };
  }
}

/** The axioms metric (name 'axioms'). */
export function axiomsMetric(options: AxiomsOptions = {}): Metric<AxiomsReport, NetworkEvaluationContext> {
  const tolerance = options.tolerance ?? DEFAULT_AXIOM_TOLERANCE;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance)) throw new InputError(`axioms: tolerance must be a finite number >= 0, got ${options.tolerance}`);
  const detailed = options.images ?? DEFAULT_AXIOM_IMAGES;
  if (!Number.isInteger(detailed) || detailed < 1) throw new InputError(`axioms: images must be an integer >= 1 (linearity, sensitivity and symmetry need images to check), got ${options.images}`);
  return {
    name: 'axioms',
    async run(ctx: NetworkEvaluationContext): Promise<AxiomsReport> {
      const { model } = ctx;
      const C = model.numClasses;
      const k = model.prototypesPerClass;
      const HW = model.positions;
      const D = model.featureDim;
      const { channels, height, width } = model.input;
      const tallies = {
        completeness: new Tally('completeness'),
        linearity: new Tally('linearity'),
        sensitivity: new Tally('sensitivity'),
        symmetry: new Tally('symmetry'),
      };
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
            tallies.completeness.add(checkCompleteness(x, HW, withResidual, b.logits[i * C + c], { contribute: () => engine, tolerance }), id, c);
          }
          tallies.completeness.images++;
          if (images < detailed) {
            const c = argmaxRow(b.logits, i * C, C);
            const d = model.decomposition(c);
            if (previous) {
              const rng = new Rng(ctx.seed).fork(b.indices[i]);
              const a1 = rng.uniform(-2, 2);
              const a2 = rng.uniform(-2, 2);
              tallies.linearity.add(checkLinearity(x, previous, HW, a1, a2, d, { tolerance }), id, c);
              tallies.linearity.images++;
            }
            tallies.sensitivity.add(checkSensitivity(x, baseline, HW, d, { tolerance }), id, c);
            tallies.sensitivity.images++;
            tallies.symmetry.add(checkSymmetry(x, HW, d, { tolerance }), id, c);
            tallies.symmetry.images++;
            previous = Float32Array.from(x);
          }
          images++;
        }
        ctx.onProgress?.(images);
      }
      if (images === 0) throw new InputError('axioms: the evaluation set has no images');
      const axioms = Object.values(tallies).map((t) => t.summary());
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
}
