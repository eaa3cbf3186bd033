/**
 * Non-negative matrix factorisation F (n x d) ~ E P, E >= 0 (n x k), P >= 0 (k x d), minimising
 * ||F - E P||_F^2, with the iterations running in onnxruntime graphs (see graphs.ts).
 * Seeded and deterministic; the bits of the answer do not depend on the thread count.
 */
import type * as ort from 'onnxruntime-node';
import { CheckError, InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';
import { createSession, defaultThreads, floatData, floatTensor, int64Scalar } from '../engine.ts';
import { iterateModel, rangeModel } from './graphs.ts';
import { nndsvda, randomizedSvd, randomStart, type RangeProducts } from './init.ts';
import { canonicalFactors, initialFactors, prepareInput, resolveCommonOptions, resultBase, zeroInputResult, type CommonOptions, type PreparedInput } from './prepare.ts';
import type { NmfCheck, NmfOptions, NmfResidence, NmfResult } from './types.ts';

export type { NmfCheck, NmfInit, NmfOptions, NmfResidence, NmfResult, NmfSolver } from './types.ts';

/** F bytes above which F is never baked (protobuf messages are limited to 2 GiB). */
const BAKE_MAX_BYTES = 1 << 30;

/** Seeded start on the engine: NNDSVDa via the randomised SVD, or scikit-learn's random start. */
async function engineStart(prep: PreparedInput, common: CommonOptions, threads: number): Promise<{ Et: Float32Array; P: Float32Array }> {
  const { init, seed } = common;
  const { F, n, d, k } = prep;
  const rng = new Rng(seed);
  if (init === 'random') return randomStart(n, d, k, prep.mean, rng);
  const l = Math.min(k + 10, n, d);
  const session = await createSession(rangeModel(n, d, l), threads);
  try {
    const Ft = floatTensor(F, [n, d]);
    const products: RangeProducts = {
      apply: async (Q) => {
        const out = await session.run({ F: Ft, Q: floatTensor(Q, [d, l]) });
        return { Z: floatData(out.Z, 'Z'), W: floatData(out.W, 'W') };
      },
    };
    const svd = await randomizedSvd(n, d, k, products, rng, { powerIterations: common.svdPowerIterations });
    return nndsvda(n, d, k, svd, prep.mean);
  } finally {
    await session.release();
  }
}

/**
 * Factorise F (n x d, row-major float32) into E (n x k) and P (k x d), both non-negative.
 *
 * Solvers: 'hals' (default; cyclic exact updates of one row of Et or P at a time) and 'mu'
 * (multiplicative updates). The run stops when the relative improvement of the error between two
 * checks drops below tol, or after maxIter iterations. Negative entries of F are handled by
 * shifting each affected channel by its minimum (recorded in `shift`, with a warning); an all-zero
 * F gives zero factors with relError 0.
 */
export async function nmf(F: Float32Array, n: number, d: number, opts: NmfOptions): Promise<NmfResult> {
  const started = performance.now();
  const fn = 'nmf';
  if (opts === null || typeof opts !== 'object') throw new InputError(`${fn}: options with at least k are required`);
  const prep = prepareInput(fn, F, n, d, opts.k);
  const common = resolveCommonOptions(fn, opts);
  const { k } = prep;
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new InputError(`${fn}: option threads must be a positive integer (got ${threads})`);
  const residence: NmfResidence = opts.residence ?? 'auto';
  if (!['auto', 'initializer', 'input'].includes(residence)) throw new InputError(`${fn}: option residence must be 'auto', 'initializer' or 'input' (got '${residence}')`);
  const given = opts.initial ? initialFactors(fn, opts.initial, n, d, k) : null;
  const base = resultBase(prep, common, common.solver, given !== null);
  if (prep.normSq === 0) return zeroInputResult(base, n, d, k, started, Boolean(opts.history));
  const history: NmfCheck[] = [];

  let { Et, P } = given ?? (await engineStart(prep, common, threads));
  const bytes = prep.F.byteLength;
  const bake = residence === 'initializer' || (residence === 'auto' && bytes <= BAKE_MAX_BYTES);
  if (bake && bytes > BAKE_MAX_BYTES) throw new InputError(`${fn}: option residence 'initializer' needs F of at most 1 GiB (F is ${(bytes / 2 ** 30).toFixed(2)} GiB); use 'input'`);
  const session = await createSession(iterateModel({ solver: common.solver, n, d, k, ...(bake ? { bakedF: prep.F } : {}) }), threads);
  const norm = Math.sqrt(prep.normSq);
  let iterations = 0;
  let converged = false;
  let relError = NaN;
  try {
    const feedsF: Record<string, ort.Tensor> = bake ? {} : { F: floatTensor(prep.F, [n, d]) };
    let et: ort.Tensor = floatTensor(Et, [k, n]);
    let p: ort.Tensor = floatTensor(P, [k, d]);
    let previous = Infinity;
    // The first run does no iterations: it measures the starting point's error.
    for (let first = true; ; first = false) {
      const steps = first ? 0 : Math.min(common.checkEvery, common.maxIter - iterations);
      const out = await session.run({ M: int64Scalar(steps), Et0: et, P0: p, ...feedsF });
      et = out.Et as ort.Tensor;
      p = out.P as ort.Tensor;
      iterations += steps;
      const rowErr = floatData(out.rowErr as ort.Tensor, 'rowErr');
      let errSq = 0;
      for (let i = 0; i < n; i++) errSq += rowErr[i];
      relError = Math.sqrt(errSq) / norm;
      if (!Number.isFinite(relError)) throw new CheckError(`nmf: the ${common.solver} iterations produced a non-finite error at iteration ${iterations}`);
      if (opts.history) history.push({ iteration: iterations, relError, elapsedMs: performance.now() - started });
      if (relError === 0 || (common.tol > 0 && Number.isFinite(previous) && (previous - relError) / previous < common.tol)) {
        converged = true;
        break;
      }
      if (iterations >= common.maxIter) break;
      previous = relError;
    }
    Et = floatData(et, 'Et');
    P = floatData(p, 'P');
  } finally {
    await session.release();
  }
  const { E, P: Ps } = canonicalFactors(Et, P, n, d, k);
  return { ...base, E, P: Ps, relError, iterations, converged, residence: bake ? 'initializer' : 'input', ...(opts.history ? { history } : {}) };
}
