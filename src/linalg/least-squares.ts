/**
 * Scaling of prototypes against a head vector: ordinary and non-negative least squares with k
 * unknowns, alpha = argmin ||v - sum_i alpha_i p_i||^2, where P (k x d, row-major float32) holds
 * the prototypes p_i as rows and v has d entries. Both work on the k x k normal equations in
 * float64 (k is small: 3 to a few dozen) and return the residual R = v - alpha P accumulated in
 * float64.
 */
import { InputError } from '../util/errors.ts';
import { solvePsd } from './dense.ts';

/** The answer of a least-squares scaling. */
export interface LeastSquaresResult {
  /** k coefficients. */
  alpha: Float64Array;
  /** d entries: v - sum_i alpha_i p_i. */
  residual: Float64Array;
  /**
   * Numerical rank of the normal-equation matrix used by the final solve: of P P^T for
   * leastSquares (k when the prototypes are independent), of its restriction to the coordinates
   * left free (alpha_i > 0) for nonNegativeLeastSquares.
   */
  rank: number;
}

/** Options of {@link leastSquares}. */
export interface LeastSquaresOptions {
  /**
   * Relative eigenvalue cut-off of the normal-equation matrix P P^T: directions with eigenvalue at
   * or below rcond x the largest are dropped and the minimum-norm solution is returned.
   * Default 1e-12 (singular values of P below 1e-6 of the largest, the float32 noise level).
   */
  rcond?: number;
}

/** Options of {@link nonNegativeLeastSquares}. */
export interface NonNegativeLeastSquaresOptions extends LeastSquaresOptions {
  /**
   * Optimality tolerance on the gradient P (v - alpha P)^T: a coordinate enters the solution only
   * if its gradient exceeds tol. Default 1e-11 x max_i ||p_i|| x ||v||.
   */
  tol?: number;
  /** Safety cap on active-set changes. Default 30 k + 30. */
  maxIterations?: number;
}

function checkShapes(fn: string, P: ArrayLike<number>, k: number, d: number, v: ArrayLike<number>): void {
  if (!Number.isInteger(k) || k < 1) throw new InputError(`${fn}: k must be a positive integer (got ${k})`);
  if (!Number.isInteger(d) || d < 1) throw new InputError(`${fn}: d must be a positive integer (got ${d})`);
  if (P.length !== k * d) throw new InputError(`${fn}: P has ${P.length} values, expected k x d = ${k} x ${d} = ${k * d}`);
  if (v.length !== d) throw new InputError(`${fn}: v has ${v.length} values, expected d = ${d}`);
  for (let i = 0; i < P.length; i++) if (!Number.isFinite(P[i])) throw new InputError(`${fn}: P[${Math.floor(i / d)}, ${i % d}] is ${P[i]}, expected a finite number`);
  for (let i = 0; i < d; i++) if (!Number.isFinite(v[i])) throw new InputError(`${fn}: v[${i}] is ${v[i]}, expected a finite number`);
}

/** G = P P^T (k x k) and b = P v (k), in float64. */
function normalEquations(P: ArrayLike<number>, k: number, d: number, v: ArrayLike<number>): { G: Float64Array; b: Float64Array } {
  const G = new Float64Array(k * k);
  const b = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const oi = i * d;
    let s = 0;
    for (let c = 0; c < d; c++) s += P[oi + c] * v[c];
    b[i] = s;
    for (let j = i; j < k; j++) {
      const oj = j * d;
      let g = 0;
      for (let c = 0; c < d; c++) g += P[oi + c] * P[oj + c];
      G[i * k + j] = g;
      G[j * k + i] = g;
    }
  }
  return { G, b };
}

/** R = v - alpha P in float64. */
function residualOf(P: ArrayLike<number>, k: number, d: number, v: ArrayLike<number>, alpha: Float64Array): Float64Array {
  const R = Float64Array.from(v);
  for (let i = 0; i < k; i++) {
    const a = alpha[i];
    if (a === 0) continue;
    const oi = i * d;
    for (let c = 0; c < d; c++) R[c] -= a * P[oi + c];
  }
  return R;
}

/** P R (k values) in float64: the negative half-gradient of ||v - alpha P||^2. */
function correlations(P: ArrayLike<number>, k: number, d: number, R: Float64Array): Float64Array {
  const w = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const oi = i * d;
    let s = 0;
    for (let c = 0; c < d; c++) s += P[oi + c] * R[c];
    w[i] = s;
  }
  return w;
}

/**
 * Ordinary least squares alpha = argmin ||v - alpha P||^2. The normal equations are solved by a
 * symmetric eigen-decomposition (minimum-norm answer when P is rank-deficient), followed by one
 * step of iterative refinement on the float64 residual, so R is orthogonal to every row of P to
 * near float64 precision.
 */
export function leastSquares(P: Float32Array | Float64Array, k: number, d: number, v: Float32Array | Float64Array, opts: LeastSquaresOptions = {}): LeastSquaresResult {
  checkShapes('leastSquares', P, k, d, v);
  const rcond = opts.rcond ?? 1e-12;
  const { G, b } = normalEquations(P, k, d, v);
  const { x: alpha, rank } = solvePsd(G, k, b, rcond);
  // One refinement step: solve for the correction from the residual's correlations.
  const w = correlations(P, k, d, residualOf(P, k, d, v, alpha));
  const { x: delta } = solvePsd(G, k, w, rcond);
  for (let i = 0; i < k; i++) alpha[i] += delta[i];
  return { alpha, residual: residualOf(P, k, d, v, alpha), rank };
}

/**
 * Non-negative least squares alpha = argmin ||v - alpha P||^2 subject to alpha >= 0, by the
 * Lawson-Hanson active-set method on the normal equations (exact in finitely many steps; with k
 * unknowns it needs at most a few k steps). At the answer the KKT conditions hold: alpha_i > 0
 * implies (P R)_i = 0 and alpha_i = 0 implies (P R)_i <= tol.
 */
export function nonNegativeLeastSquares(
  P: Float32Array | Float64Array,
  k: number,
  d: number,
  v: Float32Array | Float64Array,
  opts: NonNegativeLeastSquaresOptions = {},
): LeastSquaresResult {
  checkShapes('nonNegativeLeastSquares', P, k, d, v);
  const rcond = opts.rcond ?? 1e-12;
  const { G, b } = normalEquations(P, k, d, v);
  let maxRow = 0;
  for (let i = 0; i < k; i++) maxRow = Math.max(maxRow, Math.sqrt(G[i * k + i]));
  let vNorm = 0;
  for (let c = 0; c < d; c++) vNorm += v[c] * v[c];
  vNorm = Math.sqrt(vNorm);
  const tol = opts.tol ?? 1e-11 * maxRow * vNorm;
  const maxIterations = opts.maxIterations ?? 30 * k + 30;

  const x = new Float64Array(k);
  let rank = 0;
  const passive = new Uint8Array(k);
  const gradient = (): Float64Array => {
    const w = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      let s = b[i];
      for (let j = 0; j < k; j++) s -= G[i * k + j] * x[j];
      w[i] = s;
    }
    return w;
  };
  /** Solve the unconstrained problem restricted to the passive set; zeros elsewhere. */
  const passiveSolve = (): Float64Array => {
    const idx: number[] = [];
    for (let i = 0; i < k; i++) if (passive[i]) idx.push(i);
    const m = idx.length;
    const Gs = new Float64Array(m * m);
    const bs = new Float64Array(m);
    for (let a = 0; a < m; a++) {
      bs[a] = b[idx[a]];
      for (let c = 0; c < m; c++) Gs[a * m + c] = G[idx[a] * k + idx[c]];
    }
    const { x: zs, rank: r } = solvePsd(Gs, m, bs, rcond);
    rank = r;
    const z = new Float64Array(k);
    idx.forEach((i, a) => (z[i] = zs[a]));
    return z;
  };

  let steps = 0;
  for (;;) {
    const w = gradient();
    let t = -1;
    let best = tol;
    for (let i = 0; i < k; i++) if (!passive[i] && w[i] > best) (best = w[i]), (t = i);
    if (t < 0 || steps >= maxIterations) break;
    passive[t] = 1;
    for (;;) {
      steps++;
      const z = passiveSolve();
      let feasible = true;
      for (let i = 0; i < k; i++) if (passive[i] && z[i] <= 0) feasible = false;
      if (feasible) {
        x.set(z);
        break;
      }
      // Step from x towards z as far as feasibility allows, then drop the coordinates that hit 0.
      let step = 1;
      for (let i = 0; i < k; i++) {
        if (passive[i] && z[i] <= 0) {
          const s = x[i] / (x[i] - z[i]);
          if (s < step) step = s;
        }
      }
      for (let i = 0; i < k; i++) if (passive[i]) x[i] += step * (z[i] - x[i]);
      let dropped = false;
      for (let i = 0; i < k; i++) {
        if (passive[i] && (x[i] <= 0 || (z[i] <= 0 && x[i] <= 1e-15 * Math.abs(z[i])))) {
          passive[i] = 0;
          x[i] = 0;
          dropped = true;
        }
      }
      // Without a drop the step was blocked by round-off: keep the last feasible x and stop.
      if (!dropped || steps >= maxIterations) break;
    }
    if (steps >= maxIterations) break;
  }
  for (let i = 0; i < k; i++) if (x[i] < 0) x[i] = 0;
  return { alpha: x, residual: residualOf(P, k, d, v, x), rank };
}
