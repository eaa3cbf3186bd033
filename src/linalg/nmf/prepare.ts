/**
 * What every NMF solver does around its iterations: check the input, measure it, shift negative
 * channels, check a warm start, and put the answer in canonical form.
 */
import { InputError } from '../../util/errors.ts';
import { checkedInteger } from '../../util/options.ts';
import type { NmfInit, NmfOptions, NmfResult, NmfSolver } from './types.ts';

/** F ready for factorisation, with the statistics the solvers need. */
export interface PreparedInput {
  /** n x d, non-negative: the caller's F, or a shifted copy. */
  F: Float32Array;
  n: number;
  d: number;
  k: number;
  /** ||F||_F^2 of the prepared F, float64. */
  normSq: number;
  /** mean of the prepared F. */
  mean: number;
  shift?: Float32Array;
  warnings: string[];
}

/** Resolved solver options shared by the engine and the plain-JS solvers. */
export interface CommonOptions {
  solver: NmfSolver;
  seed: number;
  maxIter: number;
  tol: number;
  checkEvery: number;
  init: NmfInit;
  /** undefined: the default rule of init.ts. */
  svdPowerIterations: number | undefined;
}

const positiveInt = (fn: string, name: string, v: unknown): number => checkedInteger(`${fn}: ${name}`, v, 1);

/** Check shapes and values of F and the common options; shift negative channels. */
export function prepareInput(fn: string, F: Float32Array, n: number, d: number, k: number): PreparedInput {
  positiveInt(fn, 'n', n);
  positiveInt(fn, 'd', d);
  positiveInt(fn, 'option k', k);
  if (!(F instanceof Float32Array)) throw new InputError(`${fn}: F must be a Float32Array (n x d row-major)`);
  if (F.length !== n * d) throw new InputError(`${fn}: F has ${F.length} values, expected n x d = ${n} x ${d} = ${n * d}`);
  const colMin = new Float64Array(d).fill(Infinity);
  let sum = 0;
  let sumSq = 0;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) {
      const x = F[o + c];
      if (!Number.isFinite(x)) throw new InputError(`${fn}: F[${r}, ${c}] is ${x}, expected a finite number`);
      sum += x;
      sumSq += x * x;
      if (x < colMin[c]) colMin[c] = x;
    }
  }
  const warnings: string[] = [];
  let negative = 0;
  let globalMin = Infinity;
  for (let c = 0; c < d; c++) {
    if (colMin[c] < 0) negative++;
    if (colMin[c] < globalMin) globalMin = colMin[c];
  }
  if (negative === 0) return { F, n, d, k, normSq: sumSq, mean: sum / (n * d), warnings };
  const shift = new Float32Array(d);
  for (let c = 0; c < d; c++) shift[c] = colMin[c] < 0 ? colMin[c] : 0;
  const G = new Float32Array(n * d);
  sum = 0;
  sumSq = 0;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let c = 0; c < d; c++) {
      const x = Math.max(0, F[o + c] - shift[c]);
      G[o + c] = x;
      sum += x;
      sumSq += x * x;
    }
  }
  warnings.push(
    `${fn}: F has negative entries in ${negative} of ${d} channels (minimum ${globalMin.toPrecision(4)}); ` +
      'each such channel was shifted by its minimum for the factorisation (see shift)',
  );
  return { F: G, n, d, k, normSq: sumSq, mean: sum / (n * d), shift, warnings };
}

/** Resolve and check the options common to all solvers. */
export function resolveCommonOptions(fn: string, opts: NmfOptions): CommonOptions {
  const solver = opts.solver ?? 'hals';
  if (solver !== 'hals' && solver !== 'mu') throw new InputError(`${fn}: option solver must be 'hals' or 'mu' (got '${String(solver)}')`);
  const init = opts.init ?? 'nndsvda';
  if (init !== 'nndsvda' && init !== 'random') throw new InputError(`${fn}: option init must be 'nndsvda' or 'random' (got '${String(init)}')`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new InputError(`${fn}: option seed must be an integer in [0, 2^32) (got ${seed})`);
  const maxIter = opts.maxIter ?? (solver === 'hals' ? 200 : 1000);
  if (!Number.isInteger(maxIter) || maxIter < 0) throw new InputError(`${fn}: option maxIter must be an integer >= 0 (got ${maxIter})`);
  const tol = opts.tol ?? 1e-4;
  if (!(tol >= 0) || !Number.isFinite(tol)) throw new InputError(`${fn}: option tol must be a finite number >= 0 (got ${tol})`);
  const checkEvery = positiveInt(fn, 'option checkEvery', opts.checkEvery ?? 10);
  const svdPowerIterations = opts.svdPowerIterations;
  if (svdPowerIterations !== undefined && (!Number.isInteger(svdPowerIterations) || svdPowerIterations < 0)) {
    throw new InputError(`${fn}: option svdPowerIterations must be an integer >= 0 (got ${svdPowerIterations})`);
  }
  return { solver, seed, maxIter, tol, checkEvery, init, svdPowerIterations };
}

/** Check a warm start and return it as Et (k x n) and P (k x d) copies. */
export function initialFactors(fn: string, initial: { E: Float32Array; P: Float32Array }, n: number, d: number, k: number): { Et: Float32Array; P: Float32Array } {
  const { E, P } = initial;
  if (!(E instanceof Float32Array) || E.length !== n * k) throw new InputError(`${fn}: option initial.E must be a Float32Array of n x k = ${n} x ${k} values`);
  if (!(P instanceof Float32Array) || P.length !== k * d) throw new InputError(`${fn}: option initial.P must be a Float32Array of k x d = ${k} x ${d} values`);
  for (const [name, X] of [
    ['E', E],
    ['P', P],
  ] as const) {
    for (let i = 0; i < X.length; i++) {
      if (!(X[i] >= 0) || !Number.isFinite(X[i])) throw new InputError(`${fn}: option initial.${name}[${i}] is ${X[i]}, expected a finite number >= 0`);
    }
  }
  const Et = new Float32Array(k * n);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) Et[j * n + r] = E[r * k + j];
  return { Et, P: Float32Array.from(P) };
}

/**
 * Canonical output: components sorted by decreasing ||e_j|| ||p_j|| (ties keep solver order),
 * E returned n x k.
 */
export function canonicalFactors(Et: Float32Array, P: Float32Array, n: number, d: number, k: number): { E: Float32Array; P: Float32Array } {
  const energy = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let e = 0;
    let p = 0;
    for (let r = 0; r < n; r++) e += Et[j * n + r] * Et[j * n + r];
    for (let c = 0; c < d; c++) p += P[j * d + c] * P[j * d + c];
    energy[j] = Math.sqrt(e) * Math.sqrt(p);
  }
  const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => energy[b] - energy[a] || a - b);
  const E = new Float32Array(n * k);
  const Ps = new Float32Array(k * d);
  order.forEach((src, dst) => {
    for (let r = 0; r < n; r++) E[r * k + dst] = Et[src * n + r];
    Ps.set(P.subarray(src * d, src * d + d), dst * d);
  });
  return { E, P: Ps };
}

/** What a result says about its run before any iteration: warnings, seed, solver, start and shift. */
export type ResultBase = Pick<NmfResult, 'warnings' | 'seed' | 'solver' | 'init' | 'shift'>;

/** The `ResultBase` of a run (`given`: the run starts from the caller's factors). */
export function resultBase(prep: PreparedInput, common: CommonOptions, solver: NmfSolver, given: boolean): ResultBase {
  return {
    warnings: prep.warnings,
    seed: common.seed,
    solver,
    init: given ? 'given' : common.init,
    ...(prep.shift ? { shift: prep.shift } : {}),
  };
}

/**
 * The answer for an all-zero F (every solver's, without iterating): zero factors, relError 0,
 * converged at iteration 0; with `history`, one check at iteration 0 timed from `started`.
 */
export function zeroInputResult(base: ResultBase, n: number, d: number, k: number, started: number, history: boolean): NmfResult {
  const checks = history ? { history: [{ iteration: 0, relError: 0, elapsedMs: performance.now() - started }] } : {};
  return { ...base, E: new Float32Array(n * k), P: new Float32Array(k * d), relError: 0, iterations: 0, converged: true, ...checks };
}
