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

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** out = x + t d. */
function stepInto(out: Float64Array, x: Float64Array, t: number, d: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = x[i] + t * d[i];
}

/**
 * Two-loop recursion: d = -H g with the `stored` pairs of the ring (oldest at `head`); with no pairs,
 * d = -g · firstScale. Each pass over the vectors updates d and accumulates the next dot product
 * (every sum in the same order as separate loops would take). A plain function, so the engine
 * optimises it apart from the asynchronous loop.
 */
function twoLoop(d: Float64Array, g: Float64Array, S: Float64Array[], Y: Float64Array[], rho: Float64Array, alphas: Float64Array, stored: number, head: number, memory: number, firstScale: number): void {
  const n = d.length;
  const slot = (m: number) => (head + m) % memory;
  for (let i = 0; i < n; i++) d[i] = -g[i];
  if (stored > 0) {
    let sd = dot(S[slot(stored - 1)], d);
    for (let m = stored - 1; m >= 0; m--) {
      const a = rho[slot(m)] * sd;
      alphas[m] = a;
      const y = Y[slot(m)];
      if (m > 0) {
        const sPrev = S[slot(m - 1)];
        let acc = 0;
        for (let i = 0; i < n; i++) {
          d[i] -= a * y[i];
          acc += sPrev[i] * d[i];
        }
        sd = acc;
      } else for (let i = 0; i < n; i++) d[i] -= a * y[i];
    }
    const last = slot(stored - 1);
    let sy = 0;
    let yy = 0;
    const sl = S[last];
    const yl = Y[last];
    for (let i = 0; i < n; i++) {
      sy += sl[i] * yl[i];
      yy += yl[i] * yl[i];
    }
    const gamma = sy / yy;
    let yd = 0;
    const y0 = Y[slot(0)];
    for (let i = 0; i < n; i++) {
      d[i] *= gamma;
      yd += y0[i] * d[i];
    }
    for (let m = 0; m < stored; m++) {
      const b = rho[slot(m)] * yd;
      const s = S[slot(m)];
      const c = alphas[m] - b;
      if (m + 1 < stored) {
        const yNext = Y[slot(m + 1)];
        let acc = 0;
        for (let i = 0; i < n; i++) {
          d[i] += c * s[i];
          acc += yNext[i] * d[i];
        }
        yd = acc;
      } else for (let i = 0; i < n; i++) d[i] += c * s[i];
    }
  } else {
    for (let i = 0; i < n; i++) d[i] *= firstScale;
  }
}

/**
 * s = xNew - x, y = gNew - g; returns s·y when the pair has positive curvature (s·y > 1e-12 |s| |y|),
 * else 0.
 */
function newPair(s: Float64Array, y: Float64Array, x: Float64Array, xNew: Float64Array, g: Float64Array, gNew: Float64Array): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    s[i] = xNew[i] - x[i];
    y[i] = gNew[i] - g[i];
  }
  let sy = 0;
  let ss = 0;
  let yy = 0;
  for (let i = 0; i < n; i++) {
    sy += s[i] * y[i];
    ss += s[i] * s[i];
    yy += y[i] * y[i];
  }
  return sy > 1e-12 * Math.sqrt(ss * yy) ? sy : 0;
}

/** Minimise f from x0. Never returns a point worse than x0. */
export async function minimizeLbfgs(f: AsyncObjective, x0: ArrayLike<number>, opts: LbfgsOptions = {}): Promise<LbfgsResult> {
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-7;
  const memory = opts.memory ?? 8;
  const firstStep = opts.firstStep ?? 1;
  const n = x0.length;
  const x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let fx = await f(x, g);
  let evaluations = 1;
  // Curvature pairs in a ring of `memory` slots (oldest first from `head`), reused: no allocation per
  // iteration.
  const S = Array.from({ length: memory }, () => new Float64Array(n));
  const Y = Array.from({ length: memory }, () => new Float64Array(n));
  const rho = new Float64Array(memory);
  let stored = 0;
  let head = 0;
  const slot = (m: number) => (head + m) % memory;
  const d = new Float64Array(n);
  const alphas = new Float64Array(memory);
  let reason: LbfgsResult['reason'] = 'maxIterations';
  let iterations = 0;
  const xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  let sSpare = new Float64Array(n);
  let ySpare = new Float64Array(n);

  for (; iterations < maxIterations; ) {
    const gmax = maxAbs(g);
    if (gmax === 0 || !Number.isFinite(gmax)) {
      reason = 'stationary';
      break;
    }
    twoLoop(d, g, S, Y, rho, alphas, stored, head, memory, firstStep / gmax);
    let slope = dot(d, g);
    if (!(slope < 0)) {
      // Not a descent direction: drop the history and take a scaled gradient step.
      stored = 0;
      head = 0;
      for (let i = 0; i < n; i++) d[i] = (-g[i] * firstStep) / gmax;
      slope = dot(d, g);
    }
    // Armijo backtracking.
    let t = 1;
    let fNew = Infinity;
    let accepted = false;
    for (let tries = 0; tries < 40; tries++) {
      stepInto(xNew, x, t, d);
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
    // The new pair is formed in the spare buffers and, when s·y > 0, swapped into the next free slot
    // (or over the oldest pair when the ring is full).
    const sy = newPair(sSpare, ySpare, x, xNew, g, gNew);
    if (sy > 0) {
      const into = stored === memory ? head : slot(stored);
      [S[into], sSpare] = [sSpare, S[into]];
      [Y[into], ySpare] = [ySpare, Y[into]];
      rho[into] = 1 / sy;
      if (stored === memory) head = (head + 1) % memory;
      else stored++;
    }
    const improvement = fx - fNew;
    x.set(xNew);
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
