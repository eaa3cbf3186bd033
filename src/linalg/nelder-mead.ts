/**
 * Derivative-free minimisation by the Nelder-Mead simplex method, with the adaptive coefficients
 * of Gao & Han (2012) for higher dimensions, restarts on convergence and on stagnation, and box
 * bounds handled by a change of variables (so every evaluated point is feasible).
 */
import { InputError } from '../util/errors.ts';

/** Options of {@link nelderMead}. */
export interface NelderMeadOptions {
  /** Hard cap on calls of f (never exceeded). Default 1000 x dimension, at least 400. */
  maxEvaluations?: number;
  /**
   * Convergence on x: every vertex within tolX of the best one, per coordinate, measured in the
   * caller's coordinates. Default 1e-7.
   */
  tolX?: number;
  /** Convergence on f: every vertex's value within tolF of the best one. Default 1e-12. */
  tolF?: number;
  /**
   * Gao-Han coefficients (expansion 1 + 2/n, contraction 0.75 - 1/(2n), shrink 1 - 1/n) instead of
   * the standard (2, 0.5, 0.5). Default true. For n <= 2 the two sets coincide or the adaptive
   * shrink degenerates, so the standard ones are used.
   */
  adaptive?: boolean;
  /**
   * How many times the simplex may be rebuilt around the best point: after convergence (to rule
   * out a collapsed simplex; a restart that improves f by no more than tolF ends the search) and
   * after `stallIterations` iterations without an improvement above tolF. Default 3.
   */
  restarts?: number;
  /**
   * Per-coordinate [lower, upper]; either may be +-Infinity, lower === upper fixes the coordinate
   * (it is left out of the simplex; the adaptive coefficients use the number of free coordinates).
   * Bounded coordinates are optimised through x = lo + (hi - lo) sin^2(z) (both bounds) or
   * x = lo + z^2 / x = hi - z^2 (one bound); x0 is clamped into the box.
   */
  bounds?: [number, number][];
  /**
   * Size of the initial simplex as a fraction of each coordinate's scale: max(|x0_i|, 1) for free
   * coordinates, the whole box (z spans pi/2) for two-sided bounds, max(|z0_i|, 1) for one-sided.
   * Default 0.1.
   */
  initialStep?: number;
  /**
   * Iterations in which neither the best f improves by more than tolF nor the simplex shrinks to
   * half its size that count as stagnation. Default 50 + 10 n.
   */
  stallIterations?: number;
}

/** The answer of {@link nelderMead}. */
export interface NelderMeadResult {
  /** Best point found, in the caller's coordinates (inside the bounds). */
  x: Float64Array;
  /** f(x). */
  f: number;
  /** Calls of f. */
  evaluations: number;
  /** Simplex iterations, over all restarts. */
  iterations: number;
  /** Restarts performed. */
  restarts: number;
  /** True when the tolerances were met (false: the evaluation budget ended the search). */
  converged: boolean;
}

type Transform = { kind: 'free' } | { kind: 'box'; lo: number; hi: number } | { kind: 'lower'; lo: number } | { kind: 'upper'; hi: number } | { kind: 'fixed'; value: number };

class BudgetExhausted extends Error {}

function makeTransforms(n: number, bounds: [number, number][] | undefined): Transform[] {
  if (bounds === undefined) return Array.from({ length: n }, () => ({ kind: 'free' as const }));
  if (bounds.length !== n) throw new InputError(`nelderMead: bounds has ${bounds.length} entries, expected one [lower, upper] per coordinate (${n})`);
  return bounds.map(([lo, hi], i) => {
    if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) throw new InputError(`nelderMead: bounds[${i}] = [${lo}, ${hi}] is not an interval (expected lower <= upper)`);
    if (lo === hi) return { kind: 'fixed' as const, value: lo };
    const loF = Number.isFinite(lo);
    const hiF = Number.isFinite(hi);
    if (loF && hiF) return { kind: 'box' as const, lo, hi };
    if (loF) return { kind: 'lower' as const, lo };
    if (hiF) return { kind: 'upper' as const, hi };
    return { kind: 'free' as const };
  });
}

function toX(t: Transform, z: number): number {
  switch (t.kind) {
    case 'free':
      return z;
    case 'box': {
      const s = Math.sin(z);
      return Math.min(t.hi, Math.max(t.lo, t.lo + (t.hi - t.lo) * s * s));
    }
    case 'lower':
      return t.lo + z * z;
    case 'upper':
      return t.hi - z * z;
    case 'fixed':
      return t.value;
  }
}

function toZ(t: Transform, x: number): number {
  switch (t.kind) {
    case 'free':
      return x;
    case 'box':
      return Math.asin(Math.sqrt(Math.min(1, Math.max(0, (x - t.lo) / (t.hi - t.lo)))));
    case 'lower':
      return Math.sqrt(Math.max(0, x - t.lo));
    case 'upper':
      return Math.sqrt(Math.max(0, t.hi - x));
    case 'fixed':
      return 0;
  }
}

function stepFor(t: Transform, z0: number, initialStep: number): number {
  switch (t.kind) {
    case 'box':
      return initialStep * (Math.PI / 2);
    case 'fixed':
      return 0;
    default:
      return initialStep * Math.max(Math.abs(z0), 1);
  }
}

/**
 * Minimise f starting from x0. f receives a fresh Float64Array in the caller's coordinates
 * (inside `bounds`); a NaN value counts as +Infinity. Deterministic: no randomness is involved.
 */
export function nelderMead(f: (x: Float64Array) => number, x0: ArrayLike<number>, opts: NelderMeadOptions = {}): NelderMeadResult {
  const n = x0.length;
  if (n < 1) throw new InputError('nelderMead: x0 is empty, expected at least one coordinate');
  for (let i = 0; i < n; i++) if (!Number.isFinite(x0[i])) throw new InputError(`nelderMead: x0[${i}] is ${x0[i]}, expected a finite number`);
  const maxEvaluations = opts.maxEvaluations ?? Math.max(400, 1000 * n);
  const tolX = opts.tolX ?? 1e-7;
  const tolF = opts.tolF ?? 1e-12;
  const maxRestarts = opts.restarts ?? 3;
  const initialStep = opts.initialStep ?? 0.1;
  const stallIterations = opts.stallIterations ?? 50 + 10 * n;
  for (const [name, value, min] of [
    ['maxEvaluations', maxEvaluations, 1],
    ['restarts', maxRestarts, 0],
    ['stallIterations', stallIterations, 1],
  ] as const) {
    if (!Number.isInteger(value) || value < min) throw new InputError(`nelderMead: option ${name} must be an integer >= ${min} (got ${value})`);
  }
  for (const [name, value] of [
    ['tolX', tolX],
    ['tolF', tolF],
  ] as const) {
    if (!(value >= 0) || !Number.isFinite(value)) throw new InputError(`nelderMead: option ${name} must be a finite number >= 0 (got ${value})`);
  }
  if (!(initialStep > 0) || !Number.isFinite(initialStep)) throw new InputError(`nelderMead: option initialStep must be a finite number > 0 (got ${initialStep})`);

  const transforms = makeTransforms(n, opts.bounds);
  const clamped = Float64Array.from({ length: n }, (_, i) => {
    const t = transforms[i];
    switch (t.kind) {
      case 'box':
        return Math.min(t.hi, Math.max(t.lo, x0[i]));
      case 'lower':
        return Math.max(t.lo, x0[i]);
      case 'upper':
        return Math.min(t.hi, x0[i]);
      case 'fixed':
        return t.value;
      case 'free':
        return x0[i];
    }
  });
  // The simplex lives in the m internal coordinates of the coordinates that are not fixed.
  const free = transforms.flatMap((t, i) => (t.kind === 'fixed' ? [] : [i]));
  const m = free.length;
  const adaptive = (opts.adaptive ?? true) && m > 2;
  const rho = 1;
  const chi = adaptive ? 1 + 2 / m : 2;
  const psi = adaptive ? 0.75 - 1 / (2 * m) : 0.5;
  const sigma = adaptive ? 1 - 1 / m : 0.5;

  const mapX = (z: Float64Array): Float64Array => {
    const x = Float64Array.from(clamped);
    for (let a = 0; a < m; a++) x[free[a]] = toX(transforms[free[a]], z[a]);
    return x;
  };
  let evaluations = 0;
  let bestX: Float64Array = new Float64Array(n);
  let bestF = Infinity;
  const evaluate = (z: Float64Array): number => {
    if (evaluations >= maxEvaluations) throw new BudgetExhausted();
    evaluations++;
    const x = mapX(z);
    let v = f(x);
    if (Number.isNaN(v)) v = Infinity;
    if (v < bestF || evaluations === 1) {
      bestF = v;
      bestX = mapX(z);
    }
    return v;
  };

  const z0 = Float64Array.from(free, (i) => toZ(transforms[i], clamped[i]));
  const steps = Float64Array.from(free, (i, a) => stepFor(transforms[i], z0[a], initialStep));

  let simplex: Float64Array[] = [];
  let values: number[] = [];
  const build = (zCenter: Float64Array): void => {
    simplex = [Float64Array.from(zCenter)];
    for (let a = 0; a < m; a++) {
      const v = Float64Array.from(zCenter);
      // Step away from a box's upper end so the first simplex does not fold back on itself.
      const dir = transforms[free[a]].kind === 'box' && zCenter[a] > Math.PI / 4 ? -1 : 1;
      v[a] += dir * steps[a];
      simplex.push(v);
    }
    values = simplex.map((z) => evaluate(z));
  };
  const order = (): void => {
    const idx = simplex.map((_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
    simplex = idx.map((i) => simplex[i]);
    values = idx.map((i) => values[i]);
  };
  const converged = (): boolean => {
    const xb = mapX(simplex[0]);
    for (let j = 1; j <= m; j++) {
      if (!(Math.abs(values[j] - values[0]) <= tolF)) return false;
      const xj = mapX(simplex[j]);
      for (const i of free) if (Math.abs(xj[i] - xb[i]) > tolX) return false;
    }
    return true;
  };

  /** Largest coordinate distance of a vertex from the best one, in the internal coordinates. */
  const simplexSize = (): number => {
    let size = 0;
    for (let j = 1; j <= m; j++) for (let a = 0; a < m; a++) size = Math.max(size, Math.abs(simplex[j][a] - simplex[0][a]));
    return size;
  };

  let iterations = 0;
  let restarts = 0;
  let done = false;
  try {
    build(z0);
    if (m === 0) done = true;
    let lastRestartF = Infinity;
    let stallBest = Infinity;
    let stallSize = Infinity;
    let stall = 0;
    while (m > 0) {
      order();
      const conv = converged();
      // Stagnation: neither does the best value improve by more than tolF nor does the simplex
      // shrink to half its size since the last progress (a shrinking simplex is converging).
      const size = simplexSize();
      if (values[0] < stallBest - tolF || size <= 0.5 * stallSize) {
        stallBest = Math.min(stallBest, values[0]);
        stallSize = size;
        stall = 0;
      } else stall++;
      if (conv || stall >= stallIterations) {
        // A restart that found nothing better than the previous convergence point ends the search.
        const noGain = Number.isFinite(lastRestartF) && !(values[0] < lastRestartF - tolF);
        if (restarts >= maxRestarts || (conv && noGain)) {
          done = conv;
          break;
        }
        lastRestartF = values[0];
        restarts++;
        stall = 0;
        stallBest = values[0];
        stallSize = Infinity;
        build(simplex[0]);
        continue;
      }
      iterations++;
      const worst = simplex[m];
      const centroid = new Float64Array(m);
      for (let j = 0; j < m; j++) for (let a = 0; a < m; a++) centroid[a] += simplex[j][a] / m;
      const along = (t: number): Float64Array => {
        const z = new Float64Array(m);
        for (let a = 0; a < m; a++) z[a] = centroid[a] + t * (centroid[a] - worst[a]);
        return z;
      };
      const zr = along(rho);
      const fr = evaluate(zr);
      let replace: [Float64Array, number] | null = null;
      if (fr < values[0]) {
        const ze = along(rho * chi);
        const fe = evaluate(ze);
        replace = fe < fr ? [ze, fe] : [zr, fr];
      } else if (fr < values[m - 1]) {
        replace = [zr, fr];
      } else if (fr < values[m]) {
        const zc = along(psi * rho);
        const fc = evaluate(zc);
        if (fc <= fr) replace = [zc, fc];
      } else {
        const zcc = along(-psi);
        const fcc = evaluate(zcc);
        if (fcc < values[m]) replace = [zcc, fcc];
      }
      if (replace) {
        simplex[m] = replace[0];
        values[m] = replace[1];
      } else {
        for (let j = 1; j <= m; j++) {
          const z = simplex[j];
          for (let a = 0; a < m; a++) z[a] = simplex[0][a] + sigma * (z[a] - simplex[0][a]);
          values[j] = evaluate(z);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof BudgetExhausted)) throw e;
  }
  return { x: bestX, f: bestF, evaluations, iterations, restarts, converged: done };
}
