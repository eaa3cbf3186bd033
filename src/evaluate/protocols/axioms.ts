/**
 * Numeric checks of the explainability axioms (Sundararajan et al. 2017, as the paper applies them)
 * on a prototype decomposition of one class: contribution_i(x) = mean over positions of x p_i^T,
 * with logit = sum_i contribution_i + bias.
 *
 * Every check takes one image's feature map x (HW x D, float32, position-major), the decomposition
 * (k x D prototypes and the bias) and, optionally, the contribution function under test (by default
 * the linear one computed here in float64), and returns pass/fail with the worst error. Errors are
 * judged relative to the size of the terms involved: |error| <= tolerance * max(1, scale), with the
 * scale stated per check, so float32 rounding of large cancelling terms does not fail a check.
 *
 * These are per-image diagnostics (a few million multiply-adds at most); batched contributions for
 * whole datasets come from the model's own graph.
 */
import { InputError } from '../../util/errors.ts';

/** One class's decomposition. */
export interface Decomposition {
  /** k x D refined prototypes, row-major. */
  prototypes: Float32Array;
  k: number;
  /** Feature channels D. */
  dim: number;
  bias: number;
}

/** Contributions (k values) of an image's features (positions x D). */
export type ContributionFn = (features: Float32Array, positions: number) => Float64Array;

export type AxiomName = 'completeness' | 'linearity' | 'sensitivity' | 'symmetry';

export interface AxiomResult {
  axiom: AxiomName;
  pass: boolean;
  /** Largest error found, in the units of the logit. */
  worstError: number;
  /** The tolerance each error was compared with (already scaled). */
  tolerance: number;
  /** Number of individual comparisons made. */
  checks: number;
  detail: string;
}

export interface AxiomOptions {
  /** The contribution function under test (default: `linearContributions(decomposition)`). */
  contribute?: ContributionFn;
  /** Relative tolerance (default 1e-4). */
  tolerance?: number;
}

/** Default relative tolerance: float32 features and prototypes carry about 7 significant digits. */
export const DEFAULT_AXIOM_TOLERANCE = 1e-4;

function checkDecomposition(d: Decomposition): void {
  if (!Number.isInteger(d.k) || d.k < 1 || !Number.isInteger(d.dim) || d.dim < 1) throw new InputError(`decomposition: k and dim must be positive integers, got k=${d.k}, dim=${d.dim}`);
  if (d.prototypes.length !== d.k * d.dim) throw new InputError(`decomposition: prototypes have ${d.prototypes.length} values, k x D = ${d.k} x ${d.dim} = ${d.k * d.dim} expected`);
  if (!Number.isFinite(d.bias)) throw new InputError(`decomposition: bias must be finite, got ${d.bias}`);
}

function checkFeatures(features: Float32Array, positions: number, dim: number, what = 'features'): void {
  if (!Number.isInteger(positions) || positions < 1) throw new InputError(`${what}: positions must be a positive integer, got ${positions}`);
  if (features.length !== positions * dim) throw new InputError(`${what}: ${features.length} values, positions x D = ${positions} x ${dim} = ${positions * dim} expected`);
}

/** Heatmaps x p_i^T: k x positions, float64. */
export function prototypeMaps(features: Float32Array, positions: number, d: Decomposition): Float64Array {
  checkDecomposition(d);
  checkFeatures(features, positions, d.dim);
  const { k, dim: D, prototypes: P } = d;
  const maps = new Float64Array(k * positions);
  for (let i = 0; i < k; i++) {
    for (let n = 0; n < positions; n++) {
      let s = 0;
      for (let c = 0; c < D; c++) s += features[n * D + c] * P[i * D + c];
      maps[i * positions + n] = s;
    }
  }
  return maps;
}

/** The decomposition's contributions: c_i = mean over positions of x p_i^T, in float64. */
export function linearContributions(d: Decomposition): ContributionFn {
  checkDecomposition(d);
  return (features, positions) => {
    const maps = prototypeMaps(features, positions, d);
    const c = new Float64Array(d.k);
    for (let i = 0; i < d.k; i++) {
      let s = 0;
      for (let n = 0; n < positions; n++) s += maps[i * positions + n];
      c[i] = s / positions;
    }
    return c;
  };
}

/** The model's logit from its head row v (D values): mean over positions of x v^T + bias, in float64. */
export function linearLogit(features: Float32Array, positions: number, headRow: Float32Array, bias: number): number {
  checkFeatures(features, positions, headRow.length);
  const D = headRow.length;
  let s = 0;
  for (let n = 0; n < positions; n++) for (let c = 0; c < D; c++) s += features[n * D + c] * headRow[c];
  return s / positions + bias;
}

function contributionsOf(fn: ContributionFn, features: Float32Array, positions: number, k: number): Float64Array {
  const c = fn(features, positions);
  if (c.length !== k) throw new InputError(`contribution function returned ${c.length} values, k = ${k} expected`);
  return c;
}

function tol(o: AxiomOptions): number {
  const t = o.tolerance ?? DEFAULT_AXIOM_TOLERANCE;
  if (!(t >= 0) || !Number.isFinite(t)) throw new InputError(`axioms: tolerance must be a finite number >= 0, got ${o.tolerance}`);
  return t;
}

/**
 * Completeness: sum of contributions + bias equals the logit. Scale: max(|logit|, sum |c_i| + |bias|).
 */
export function checkCompleteness(features: Float32Array, positions: number, d: Decomposition, logit: number, options: AxiomOptions = {}): AxiomResult {
  checkDecomposition(d);
  checkFeatures(features, positions, d.dim);
  const c = contributionsOf(options.contribute ?? linearContributions(d), features, positions, d.k);
  let sum = d.bias;
  let mag = Math.abs(d.bias);
  for (const v of c) {
    sum += v;
    mag += Math.abs(v);
  }
  const err = Math.abs(sum - logit);
  const tolerance = tol(options) * Math.max(1, Math.abs(logit), mag);
  const pass = err <= tolerance;
  return { axiom: 'completeness', pass, worstError: err, tolerance, checks: 1, detail: `sum of ${d.k} contributions + bias = ${sum}, logit = ${logit}` };
}

/**
 * Linearity: contributions of a * x1 + b * x2 (formed in float32, as a feature map would be) equal
 * a * c(x1) + b * c(x2), per prototype. Scale: |a c_i(x1)| + |b c_i(x2)|.
 */
export function checkLinearity(x1: Float32Array, x2: Float32Array, positions: number, a: number, b: number, d: Decomposition, options: AxiomOptions = {}): AxiomResult {
  checkDecomposition(d);
  checkFeatures(x1, positions, d.dim, 'x1');
  checkFeatures(x2, positions, d.dim, 'x2');
  const fn = options.contribute ?? linearContributions(d);
  const mix = new Float32Array(x1.length);
  for (let i = 0; i < mix.length; i++) mix[i] = a * x1[i] + b * x2[i];
  const c1 = contributionsOf(fn, x1, positions, d.k);
  const c2 = contributionsOf(fn, x2, positions, d.k);
  const cm = contributionsOf(fn, mix, positions, d.k);
  const t = tol(options);
  let worst = 0;
  let worstTol = 0;
  let pass = true;
  let worstRatio = -1;
  let worstAt = 0;
  for (let i = 0; i < d.k; i++) {
    const expected = a * c1[i] + b * c2[i];
    const err = Math.abs(cm[i] - expected);
    const tolerance = t * Math.max(1, Math.abs(a * c1[i]) + Math.abs(b * c2[i]));
    if (!(err <= tolerance)) pass = false;
    if (!(err / tolerance <= worstRatio) && !Number.isNaN(worstRatio)) {
      worstRatio = err / tolerance;
      worst = err;
      worstTol = tolerance;
      worstAt = i;
    }
  }
  return { axiom: 'linearity', pass, worstError: worst, tolerance: worstTol, checks: d.k, detail: `a = ${a}, b = ${b}; worst at prototype ${worstAt}` };
}

/**
 * Sensitivity, against a baseline feature map x0:
 * - a prototype whose map x p_i^T is zero everywhere gets zero contribution;
 * - the change of each contribution, c_i(x) - c_i(x0), equals the change of the prototype's weighted
 *   features, mean((x - x0) p_i^T) (computed here independently): nonzero exactly when the input
 *   differs from the baseline in features the prototype weights, zero when it does not.
 * Scale: mean(|x p_i^T|) + mean(|x0 p_i^T|).
 */
export function checkSensitivity(features: Float32Array, baseline: Float32Array, positions: number, d: Decomposition, options: AxiomOptions = {}): AxiomResult {
  checkDecomposition(d);
  checkFeatures(features, positions, d.dim);
  checkFeatures(baseline, positions, d.dim, 'baseline');
  const fn = options.contribute ?? linearContributions(d);
  const cx = contributionsOf(fn, features, positions, d.k);
  const c0 = contributionsOf(fn, baseline, positions, d.k);
  const mx = prototypeMaps(features, positions, d);
  const m0 = prototypeMaps(baseline, positions, d);
  const t = tol(options);
  let pass = true;
  let worst = 0;
  let worstTol = 0;
  let worstRatio = -1;
  let checks = 0;
  const notes: string[] = [];
  const consider = (err: number, tolerance: number, note: string) => {
    checks++;
    if (!(err <= tolerance)) {
      pass = false;
      if (notes.length < 3) notes.push(note);
    }
    if (!(err / tolerance <= worstRatio) && !Number.isNaN(worstRatio)) {
      worstRatio = err / tolerance;
      worst = err;
      worstTol = tolerance;
    }
  };
  for (let i = 0; i < d.k; i++) {
    let zero = true;
    let delta = 0;
    let scale = 0;
    for (let n = 0; n < positions; n++) {
      const a = mx[i * positions + n];
      const b = m0[i * positions + n];
      if (a !== 0) zero = false;
      delta += a - b;
      scale += Math.abs(a) + Math.abs(b);
    }
    delta /= positions;
    const tolerance = t * Math.max(1, scale / positions);
    if (zero) consider(Math.abs(cx[i]), tolerance, `prototype ${i}: zero map but contribution ${cx[i]}`);
    consider(Math.abs(cx[i] - c0[i] - delta), tolerance, `prototype ${i}: contribution changed by ${cx[i] - c0[i]}, its weighted features by ${delta}`);
  }
  return { axiom: 'sensitivity', pass, worstError: worst, tolerance: worstTol, checks, detail: pass ? `${d.k} prototypes against the baseline` : notes.join('; ') };
}

/**
 * Symmetry-preservation: prototypes with identical vectors get identical contributions.
 * Passes with zero checks when no two prototypes are identical. Scale: |c_i| + |c_j|.
 */
export function checkSymmetry(features: Float32Array, positions: number, d: Decomposition, options: AxiomOptions = {}): AxiomResult {
  checkDecomposition(d);
  checkFeatures(features, positions, d.dim);
  const c = contributionsOf(options.contribute ?? linearContributions(d), features, positions, d.k);
  const { k, dim: D, prototypes: P } = d;
  const t = tol(options);
  let pass = true;
  let worst = 0;
  let worstTol = t;
  let worstRatio = -1;
  let checks = 0;
  const pairs: string[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      let same = true;
      for (let q = 0; q < D && same; q++) same = P[i * D + q] === P[j * D + q];
      if (!same) continue;
      checks++;
      const err = Math.abs(c[i] - c[j]);
      const tolerance = t * Math.max(1, Math.abs(c[i]) + Math.abs(c[j]));
      if (!(err <= tolerance)) {
        pass = false;
        pairs.push(`${i}~${j}`);
      }
      if (!(err / tolerance <= worstRatio) && !Number.isNaN(worstRatio)) {
        worstRatio = err / tolerance;
        worst = err;
        worstTol = tolerance;
      }
    }
  }
  const detail = checks === 0 ? 'no two prototypes are identical' : pass ? `${checks} identical pair(s) with equal contributions` : `unequal contributions for identical prototypes ${pairs.join(', ')}`;
  return { axiom: 'symmetry', pass, worstError: worst, tolerance: worstTol, checks, detail };
}
