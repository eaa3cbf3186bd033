/**
 * Limited-memory BFGS for objectives whose evaluation is asynchronous (the heatmap products run in
 * onnxruntime). Two-loop recursion, Armijo backtracking from the unit step, curvature pairs kept
 * only when s·y > 0. Deterministic: no randomness, fixed operation order.
 */

/** Objective: returns the value and, when `grad` is given, writes the gradient into it. */
export type AsyncObjective = (x: Float64Array, grad: Float64Array | null) => Promise<number>;

export interface LbfgsOptions {
  /** Iterations (accepted steps). Default 100. */
  maxIterations?: number;
  /** Stop when one iteration improves f by less than this times max(|f|, 1e-300). Default 1e-7. */
  tolerance?: number;
  /** Stored curvature pairs. Default 8. */
  memory?: number;
  /** Length (max-norm) of the first step, before any curvature is known. Default 1. */
  firstStep?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  /** Accepted steps. */
  iterations: number;
  /** Objective evaluations (with or without gradient). */
  evaluations: number;
  /** Why it stopped: `tolerance`, `maxIterations`, `stationary` (zero gradient) or `lineSearch`. */
  reason: 'tolerance' | 'maxIterations' | 'stationary' | 'lineSearch';
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Minimise f from x0. Never returns a point worse than x0. */
export async function minimizeLbfgs(f: AsyncObjective, x0: ArrayLike<number>, opts: LbfgsOptions = {}): Promise<LbfgsResult> {
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-7;
  const memory = opts.memory ?? 8;
  const firstStep = opts.firstStep ?? 1;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let fx = await f(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(n);
  const alphas = new Float64Array(memory);
  let reason: LbfgsResult['reason'] = 'maxIterations';
  let iterations = 0;
  const xNew = new Float64Array(n);
  let gNew = new Float64Array(n);

  for (; iterations < maxIterations; ) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]));
    if (gmax === 0 || !Number.isFinite(gmax)) {
      reason = 'stationary';
      break;
    }
    // Two-loop recursion: d = -H g.
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let m = S.length - 1; m >= 0; m--) {
      const a = rho[m] * dot(S[m], d);
      alphas[m] = a;
      const y = Y[m];
      for (let i = 0; i < n; i++) d[i] -= a * y[i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dot(S[last], Y[last]) / dot(Y[last], Y[last]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    } else {
      for (let i = 0; i < n; i++) d[i] *= firstStep / gmax;
    }
    for (let m = 0; m < S.length; m++) {
      const b = rho[m] * dot(Y[m], d);
      const s = S[m];
      const c = alphas[m] - b;
      for (let i = 0; i < n; i++) d[i] += c * s[i];
    }
    let slope = dot(d, g);
    if (!(slope < 0)) {
      // Not a descent direction: drop the history and take a scaled gradient step.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = (-g[i] * firstStep) / gmax;
      slope = dot(d, g);
    }
    // Armijo backtracking.
    let t = 1;
    let fNew = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + t * d[i];
      fNew = await f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= fx + 1e-4 * t * slope) {
        accepted = true;
        break;
      }
      t *= 0.5;
    }
    if (!accepted) {
      reason = 'lineSearch';
      break;
    }
    iterations++;
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const improvement = fx - fNew;
    x = Float64Array.from(xNew);
    const tmp = g;
    g = gNew;
    gNew = tmp;
    fx = fNew;
    if (improvement <= tolerance * Math.max(Math.abs(fx), 1e-300)) {
      reason = 'tolerance';
      break;
    }
  }
  return { x, f: fx, iterations, evaluations, reason };
}
