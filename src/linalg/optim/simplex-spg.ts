/**
 * Spectral projected gradient (Birgin, Martínez and Raydan, 2000) over column-wise probability
 * simplices: minimise f(W) for W (k x D) with W >= 0 and every column summing to 1. Steps are
 * Barzilai-Borwein lengths, projected onto the simplices, accepted by an Armijo test (monotone by
 * default; optionally against the largest of the last few values, as in the original SPG). Working on W directly (rather than softmax logits) keeps the gradient alive at
 * the simplex's faces, where a saturated softmax stalls. Deterministic; the best point seen is returned.
 */

/** Objective: returns f(W) and writes its gradient into `grad`. */
export type SimplexObjective = (W: Float64Array, grad: Float64Array) => Promise<number>;

export interface SpgOptions {
  /** Iterations. Default 100. */
  maxIterations?: number;
  /** Stop when the best value improves by less than tolerance · |f| over `window` iterations. Default 1e-6. */
  tolerance?: number;
  /** Iterations of the stopping window. Default 10. */
  window?: number;
  /**
   * Values the Armijo test compares against (1: monotone; more: non-monotone, as in the original
   * SPG). Default 1: on the split objective the non-monotone search wandered off good points.
   */
  lineSearchMemory?: number;
}

export interface SpgResult {
  W: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  reason: 'tolerance' | 'maxIterations' | 'stationary' | 'lineSearch';
}

/** Project every column of W (k x D, in place) onto the probability simplex (Euclidean projection). */
export function projectColumnsToSimplex(W: Float64Array, k: number, D: number): void {
  const u = new Float64Array(k);
  for (let c = 0; c < D; c++) {
    for (let i = 0; i < k; i++) {
      // Insertion sort, descending (k is small).
      const x = W[i * D + c];
      let j = i;
      while (j > 0 && u[j - 1] < x) {
        u[j] = u[j - 1];
        j--;
      }
      u[j] = x;
    }
    let cum = 0;
    let theta = 0;
    for (let j = 0; j < k; j++) {
      cum += u[j];
      const t = (cum - 1) / (j + 1);
      if (u[j] - t > 0) theta = t;
    }
    for (let i = 0; i < k; i++) W[i * D + c] = Math.max(0, W[i * D + c] - theta);
  }
}

const LAMBDA_MIN = 1e-30;
/**
 * Longest step, as a multiple of 1 / max|g|: a move of 1e4 reaches any vertex of a simplex (of
 * diameter sqrt 2); longer ones only cost the projection its precision.
 */
const STEP_CAP = 1e4;

function maxAbsOf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Minimise f over the column simplices from a feasible W0. Never returns a point worse than W0. */
export async function minimizeOnSimplices(f: SimplexObjective, W0: Float64Array, k: number, D: number, opts: SpgOptions = {}): Promise<SpgResult> {
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-6;
  const window = opts.window ?? 10;
  const memory = opts.lineSearchMemory ?? 1;
  const n = k * D;
  let x = Float64Array.from(W0);
  let g = new Float64Array(n);
  let fx = await f(x, g);
  let evaluations = 1;
  let best = Float64Array.from(x);
  let fBest = fx;
  const recent: number[] = [fx];
  const bestHistory: number[] = [fBest];
  const d = new Float64Array(n);
  const xn = new Float64Array(n);
  let gn = new Float64Array(n);

  // First step length: a unit move of the largest projected-gradient entry.
  for (let i = 0; i < n; i++) d[i] = x[i] - g[i];
  projectColumnsToSimplex(d, k, D);
  let pg = 0;
  for (let i = 0; i < n; i++) pg = Math.max(pg, Math.abs(d[i] - x[i]));
  let lambda = pg > 0 ? Math.max(LAMBDA_MIN, 1 / pg) : 1;

  let reason: SpgResult['reason'] = 'maxIterations';
  let iterations = 0;
  for (; iterations < maxIterations; ) {
    const gmax = maxAbsOf(g);
    if (gmax > 0) lambda = Math.min(lambda, STEP_CAP / gmax);
    for (let i = 0; i < n; i++) d[i] = x[i] - lambda * g[i];
    projectColumnsToSimplex(d, k, D);
    let dmax = 0;
    let slope = 0;
    for (let i = 0; i < n; i++) {
      d[i] -= x[i];
      dmax = Math.max(dmax, Math.abs(d[i]));
      slope += g[i] * d[i];
    }
    if (dmax <= 1e-15 || !(slope < 0)) {
      reason = 'stationary';
      break;
    }
    let fRef = -Infinity;
    for (const v of recent) fRef = Math.max(fRef, v);
    let t = 1;
    let fn = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) xn[i] = x[i] + t * d[i];
      fn = await f(xn, gn);
      evaluations++;
      if (Number.isFinite(fn) && fn <= fRef + 1e-4 * t * slope) {
        accepted = true;
        break;
      }
      // Safeguarded quadratic interpolation along the segment.
      const tq = (-0.5 * t * t * slope) / (fn - fx - t * slope);
      t = Number.isFinite(tq) && tq >= 0.1 * t && tq <= 0.9 * t ? tq : t / 2;
    }
    if (!accepted) {
      reason = 'lineSearch';
      break;
    }
    iterations++;
    let sy = 0;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const s = xn[i] - x[i];
      const y = gn[i] - g[i];
      sy += s * y;
      ss += s * s;
    }
    lambda = sy > 0 ? Math.max(LAMBDA_MIN, ss / sy) : Infinity;
    x.set(xn);
    const tmp = g;
    g = gn;
    gn = tmp;
    fx = fn;
    recent.push(fx);
    if (recent.length > memory) recent.shift();
    if (fx < fBest) {
      fBest = fx;
      best = Float64Array.from(x);
    }
    bestHistory.push(fBest);
    if (bestHistory.length > window + 1) bestHistory.shift();
    if (bestHistory.length === window + 1 && bestHistory[0] - fBest <= tolerance * Math.abs(fBest)) {
      reason = 'tolerance';
      break;
    }
  }
  return { W: best, f: fBest, iterations, evaluations, reason };
}
