/**
 * Derivative-free minimisation by the Nelder-Mead simplex method, for a few parameters whose objective
 * may be asynchronous (the residual split's evaluations run heatmap products in onnxruntime). Adaptive
 * coefficients of Gao and Han (2012), which keep the method working beyond a handful of dimensions;
 * restarts rebuild the simplex around the best point. NaN counts as +Infinity. Deterministic.
 */
import { InputError } from '../../util/errors.ts';

export interface NelderMeadOptions {
  /** Evaluations in total, restarts included. Default 200 x dimension. */
  maxEvaluations?: number;
  /** Stop a run when the simplex's f spread is below tolF · max(|f_best|, 1e-300). Default 1e-9. */
  tolF?: number;
  /** Stop a run when every vertex is within tolX (max-norm) of the best. Default 1e-8. */
  tolX?: number;
  /** Step of the initial simplex along each axis. Default 1. */
  initialStep?: number;
  /** Extra runs from the best point with a fresh simplex. Default 1. */
  restarts?: number;
}

export interface NelderMeadResult {
  x: Float64Array;
  f: number;
  evaluations: number;
  iterations: number;
  restarts: number;
}

function checkOption(name: string, v: number | undefined, ok: (v: number) => boolean, expected: string): void {
  if (v !== undefined && !ok(v)) throw new InputError(`Nelder-Mead: ${name} must be ${expected}, got ${v}`);
}

/**
 * Minimise f from x0. The result is never worse than f(x0).
 * @throws InputError: an option out of range (named).
 */
export async function nelderMead(
  f: (x: Float64Array) => number | Promise<number>,
  x0: ArrayLike<number>,
  opts: NelderMeadOptions = {},
): Promise<NelderMeadResult> {
  const n = x0.length;
  checkOption('maxEvaluations', opts.maxEvaluations, (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
  checkOption('tolF', opts.tolF, (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  checkOption('tolX', opts.tolX, (v) => Number.isFinite(v) && v >= 0, 'a finite number >= 0');
  checkOption('initialStep', opts.initialStep, (v) => Number.isFinite(v) && v > 0, 'a finite number > 0');
  checkOption('restarts', opts.restarts, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  const maxEvaluations = opts.maxEvaluations ?? 200 * Math.max(n, 1);
  const tolF = opts.tolF ?? 1e-9;
  const tolX = opts.tolX ?? 1e-8;
  const step = opts.initialStep ?? 1;
  const maxRestarts = opts.restarts ?? 1;
  // Gao-Han adaptive coefficients (equal to the classic 1, 2, 0.5, 0.5 for n = 2).
  const dim = Math.max(n, 2);
  const cR = 1;
  const cE = 1 + 2 / dim;
  const cC = 0.75 - 1 / (2 * dim);
  const cS = 1 - 1 / dim;

  let evaluations = 0;
  let iterations = 0;
  const evalAt = async (x: Float64Array) => {
    evaluations++;
    const v = await f(x);
    return Number.isNaN(v) ? Infinity : v;
  };
  let bestX = Float64Array.from(x0);
  let bestF = await evalAt(bestX);
  if (n === 0) return { x: bestX, f: bestF, evaluations, iterations, restarts: 0 };

  let restarts = 0;
  for (let run = 0; run <= maxRestarts && evaluations < maxEvaluations; run++) {
    if (run > 0) restarts++;
    const X: Float64Array[] = [Float64Array.from(bestX)];
    const Fv: number[] = [bestF];
    for (let j = 0; j < n && evaluations < maxEvaluations; j++) {
      const x = Float64Array.from(bestX);
      x[j] += step;
      X.push(x);
      Fv.push(await evalAt(x));
    }
    if (X.length < n + 1) break;
    const order = () => {
      const idx = X.map((_, i) => i).sort((a, b) => Fv[a] - Fv[b] || a - b);
      const Xs = idx.map((i) => X[i]);
      const Fs = idx.map((i) => Fv[i]);
      for (let i = 0; i <= n; i++) {
        X[i] = Xs[i];
        Fv[i] = Fs[i];
      }
    };
    const centroid = new Float64Array(n);
    const point = (coef: number) => {
      const x = new Float64Array(n);
      for (let j = 0; j < n; j++) x[j] = centroid[j] + coef * (centroid[j] - X[n][j]);
      return x;
    };
    while (evaluations < maxEvaluations) {
      order();
      const spreadF = Fv[n] - Fv[0];
      let spreadX = 0;
      for (let i = 1; i <= n; i++) for (let j = 0; j < n; j++) spreadX = Math.max(spreadX, Math.abs(X[i][j] - X[0][j]));
      if (spreadF <= tolF * Math.max(Math.abs(Fv[0]), 1e-300) || spreadX <= tolX) break;
      iterations++;
      centroid.fill(0);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += X[i][j] / n;
      const xr = point(cR);
      const fr = await evalAt(xr);
      if (fr < Fv[0]) {
        const xe = point(cR * cE);
        const fe = await evalAt(xe);
        if (fe < fr) {
          X[n] = xe;
          Fv[n] = fe;
        } else {
          X[n] = xr;
          Fv[n] = fr;
        }
        continue;
      }
      if (fr < Fv[n - 1]) {
        X[n] = xr;
        Fv[n] = fr;
        continue;
      }
      const outside = fr < Fv[n];
      const xc = point(outside ? cR * cC : -cC);
      const fc = await evalAt(xc);
      if (fc < (outside ? fr : Fv[n])) {
        X[n] = xc;
        Fv[n] = fc;
        continue;
      }
      for (let i = 1; i <= n && evaluations < maxEvaluations; i++) {
        for (let j = 0; j < n; j++) X[i][j] = X[0][j] + cS * (X[i][j] - X[0][j]);
        Fv[i] = await evalAt(X[i]);
      }
    }
    order();
    if (Fv[0] < bestF) {
      bestF = Fv[0];
      bestX = Float64Array.from(X[0]);
    }
  }
  return { x: bestX, f: bestF, evaluations, iterations, restarts };
}
