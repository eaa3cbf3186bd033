/**
 * Plain-JS multiplicative-update NMF, float64 throughout: the benchmark's baseline and the tests'
 * independent reference for the engine solver. Same update order, start, checks and stopping rule
 * as `nmf(..., { solver: 'mu' })`, no onnxruntime.
 */
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';
import { TINY } from './graphs.ts';
import { nndsvda, randomizedSvd, randomStart, type RangeProducts } from './init.ts';
import { canonicalFactors, initialFactors, prepareInput, resolveCommonOptions, resultBase, zeroInputResult } from './prepare.ts';
import type { NmfCheck, NmfOptions, NmfResult } from './types.ts';

/** Options of {@link nmfMuPlainJs}: those of nmf() without the engine's (solver is always 'mu'). */
export type PlainNmfOptions = Omit<NmfOptions, 'k' | 'solver' | 'threads' | 'residence'>;

/** sum_c a[ao + c] b[bo + c] over c < m, four accumulators (about 1.4x a plain loop in V8). */
function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, m: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let c = 0;
  for (; c + 3 < m; c += 4) {
    s0 += a[ao + c] * b[bo + c];
    s1 += a[ao + c + 1] * b[bo + c + 1];
    s2 += a[ao + c + 2] * b[bo + c + 2];
    s3 += a[ao + c + 3] * b[bo + c + 3];
  }
  for (; c < m; c++) s0 += a[ao + c] * b[bo + c];
  return s0 + s1 + s2 + s3;
}

/** y[yo + c] += alpha x[xo + c] over c < m, unrolled by four. */
function axpy(alpha: number, x: ArrayLike<number>, xo: number, y: Float64Array, yo: number, m: number): void {
  let c = 0;
  for (; c + 3 < m; c += 4) {
    y[yo + c] += alpha * x[xo + c];
    y[yo + c + 1] += alpha * x[xo + c + 1];
    y[yo + c + 2] += alpha * x[xo + c + 2];
    y[yo + c + 3] += alpha * x[xo + c + 3];
  }
  for (; c < m; c++) y[yo + c] += alpha * x[xo + c];
}

/** Y (n x l) = F Q for F n x d, Q d x l. */
function mulFQ(F: Float32Array, n: number, d: number, Q: ArrayLike<number>, l: number): Float64Array {
  const Y = new Float64Array(n * l);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) {
      const f = F[o + c];
      if (f === 0) continue;
      for (let a = 0; a < l; a++) Y[r * l + a] += f * Q[c * l + a];
    }
  }
  return Y;
}

/** W (d x l) = F^T Z for F n x d, Z n x l. */
function mulFtZ(F: Float32Array, n: number, d: number, Z: ArrayLike<number>, l: number): Float64Array {
  const W = new Float64Array(d * l);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) {
      const f = F[o + c];
      if (f === 0) continue;
      for (let a = 0; a < l; a++) W[c * l + a] += f * Z[r * l + a];
    }
  }
  return W;
}

/** S (k x k) = X X^T for X k x m. */
function gramRows(X: Float64Array, k: number, m: number): Float64Array {
  const S = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      const s = dot(X, i * m, X, j * m, m);
      S[i * k + j] = s;
      S[j * k + i] = s;
    }
  }
  return S;
}

/** ||F - E P||_F^2 with E given as Et (k x n). */
function residualSq(F: Float32Array, n: number, d: number, k: number, Et: Float64Array, P: Float64Array): number {
  const row = new Float64Array(d);
  let total = 0;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) row[c] = F[o + c];
    for (let j = 0; j < k; j++) {
      const e = Et[j * n + r];
      if (e !== 0) axpy(-e, P, j * d, row, 0, d);
    }
    total += dot(row, 0, row, 0, d);
  }
  return total;
}

/** One multiplicative-update iteration (E then P), in place. */
function muIteration(F: Float32Array, n: number, d: number, k: number, Et: Float64Array, P: Float64Array): void {
  // E: Et <- Et * (P F^T) / ((P P^T) Et)
  const C = gramRows(P, k, d);
  const num = new Float64Array(k);
  const dens = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let j = 0; j < k; j++) num[j] = dot(P, j * d, F, o, d);
    for (let j = 0; j < k; j++) {
      let den = 0;
      for (let a = 0; a < k; a++) den += C[j * k + a] * Et[a * n + r];
      dens[j] = den;
    }
    for (let j = 0; j < k; j++) Et[j * n + r] *= num[j] / Math.max(dens[j], TINY);
  }
  // P: P <- P * (Et F) / ((Et Et^T) P)
  const A = gramRows(Et, k, n);
  const B = new Float64Array(k * d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let j = 0; j < k; j++) {
      const e = Et[j * n + r];
      if (e !== 0) axpy(e, F, o, B, j * d, d);
    }
  }
  const next = new Float64Array(k * d);
  for (let j = 0; j < k; j++) {
    for (let c = 0; c < d; c++) {
      let den = 0;
      for (let a = 0; a < k; a++) den += A[j * k + a] * P[a * d + c];
      next[j * d + c] = P[j * d + c] * (B[j * d + c] / Math.max(den, TINY));
    }
  }
  P.set(next);
}

/**
 * Plain-JS multiplicative-update NMF of F (n x d) with k components; the same options, start
 * (the seeded randomised SVD runs in JS too), checks and stopping rule as the engine's 'mu'
 * solver. About 2 GFLOP/s: use it as a reference, not for real work.
 */
export async function nmfMuPlainJs(F: Float32Array, n: number, d: number, k: number, opts: PlainNmfOptions = {}): Promise<NmfResult> {
  const started = performance.now();
  const fn = 'nmfMuPlainJs';
  if (opts === null || typeof opts !== 'object') throw new InputError(`${fn}: options must be an object`);
  const prep = prepareInput(fn, F, n, d, k);
  const common = resolveCommonOptions(fn, { ...opts, k, solver: 'mu' });
  const given = opts.initial ? initialFactors(fn, opts.initial, n, d, k) : null;
  const base = resultBase(prep, common, 'mu', given !== null);
  if (prep.normSq === 0) return zeroInputResult(base, n, d, k, started, Boolean(opts.history));
  const history: NmfCheck[] = [];
  const G = prep.F;
  let start = given;
  if (!start) {
    const rng = new Rng(common.seed);
    if (common.init === 'random') start = randomStart(n, d, k, prep.mean, rng);
    else {
      const products: RangeProducts = {
        apply: async (Q, l) => {
          const Z = mulFQ(G, n, d, Q, l);
          return { Z: Float32Array.from(Z), W: Float32Array.from(mulFtZ(G, n, d, Z, l)) };
        },
      };
      start = nndsvda(n, d, k, await randomizedSvd(n, d, k, products, rng, { powerIterations: common.svdPowerIterations }), prep.mean);
    }
  }
  const Et = Float64Array.from(start.Et);
  const P = Float64Array.from(start.P);
  const norm = Math.sqrt(prep.normSq);
  let iterations = 0;
  let converged = false;
  let relError = Math.sqrt(residualSq(G, n, d, k, Et, P)) / norm;
  if (opts.history) history.push({ iteration: 0, relError, elapsedMs: performance.now() - started });
  let previous = relError;
  while (iterations < common.maxIter && relError !== 0) {
    const steps = Math.min(common.checkEvery, common.maxIter - iterations);
    for (let s = 0; s < steps; s++) muIteration(G, n, d, k, Et, P);
    iterations += steps;
    relError = Math.sqrt(residualSq(G, n, d, k, Et, P)) / norm;
    if (opts.history) history.push({ iteration: iterations, relError, elapsedMs: performance.now() - started });
    if (common.tol > 0 && (previous - relError) / previous < common.tol) {
      converged = true;
      break;
    }
    previous = relError;
  }
  if (relError === 0) converged = true;
  const { E, P: Ps } = canonicalFactors(Float32Array.from(Et), Float32Array.from(P), n, d, k);
  return { ...base, E, P: Ps, relError, iterations, converged, ...(opts.history ? { history } : {}) };
}
