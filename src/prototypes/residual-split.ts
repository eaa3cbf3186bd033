/**
 * Residual split: distribute R over the k prototypes as r_i = w_i ⊙ R with w_i >= 0 and
 * sum_i w_i = 1 in every channel (a channel-wise convex split, which contains the uniform split R/k),
 * choosing w to minimise the heatmap objective of method.md section 4.
 *
 * Candidates judged by the objective: q_i = base_i + w_i ⊙ R, where base_i = alpha_i p_i for the
 * `prototype` objective and 0 for the `residual` objective (the paper's). Their heatmaps F q_i are
 * computed by onnxruntime ({@link FeatureProducts}); the gradient of the objective with respect to w
 * is dQ ⊙ R with dQ = dM^T F, so one evaluation with gradient costs two N x D x k products.
 *
 * Allocators:
 * - `uniform`: w = 1/k.
 * - `nelder-mead`: w = softmax over prototypes of (t_i · affinity_i(c) + o_i), with
 *   affinity_i(c) = |alpha_i| p_i[c] / sum_l |alpha_l| p_l[c] (prototype i's share of channel c in the
 *   scaled approximation; 1/k where every prototype is zero), o_k = 0: 2k - 1 parameters, tuned by
 *   Nelder-Mead from t = o = 0, the uniform split.
 * - `gradient`: free per-channel weights W (k x D) with the analytic gradient dW = (dM^T F) ⊙ R,
 *   by spectral projected gradient on the simplices (default) or L-BFGS over softmax logits.
 */
import type { FeatureProducts } from './feature-products.ts';
import type { HeatmapObjective } from './heatmap-objective.ts';
import { minimizeLbfgs } from '../linalg/optim/lbfgs.ts';
import { nelderMead } from '../linalg/optim/nelder-mead.ts';
import { minimizeOnSimplices } from '../linalg/optim/simplex-spg.ts';
import type { ResolvedOptions } from './options.ts';

/** One class's split problem. All arrays are row-major; k x D unless noted. */
export interface SplitProblem {
  k: number;
  D: number;
  /** alpha_i p_i (prototype objective) or zeros (residual objective), float64 k x D. */
  base: Float64Array;
  /** Residual R (D), float64. */
  R: Float64Array;
  products: FeatureProducts;
  objective: HeatmapObjective;
}

/** What an allocator returns: the weights (k x D, convex per channel) and its effort. */
export interface SplitResult {
  weights: Float64Array;
  /** Objective at `weights`. */
  objective: number;
  evaluations: number;
  iterations: number;
  /** Why the optimiser stopped (`fixed` for splits without an optimiser). */
  stop: string;
  /**
   * Free split only: the residual shares r_i themselves (k x D, at the problem's scale, summing to R
   * in every channel); `weights` is then unused.
   */
  shares?: Float64Array;
}

/** Uniform weights 1/k (k x D). */
export function uniformWeights(k: number, D: number): Float64Array {
  return new Float64Array(k * D).fill(1 / k);
}

/** Candidates q_i = base_i + w_i ⊙ R, as float32 for the engine. */
export function candidates(p: SplitProblem, W: Float64Array): Float32Array {
  const { k, D, base, R } = p;
  const Q = new Float32Array(k * D);
  for (let i = 0; i < k; i++) for (let c = 0; c < D; c++) Q[i * D + c] = base[i * D + c] + W[i * D + c] * R[c];
  return Q;
}

/** Objective at weights W. */
export async function objectiveAt(p: SplitProblem, W: Float64Array): Promise<number> {
  const M = await p.products.maps(candidates(p, W), p.k);
  return p.objective.value(M);
}

/** Objective at W and its gradient with respect to W (written into dW, k x D). */
export async function objectiveAndWeightGradient(p: SplitProblem, W: Float64Array, dW: Float64Array): Promise<number> {
  const { k, D, R } = p;
  const M = await p.products.maps(candidates(p, W), k);
  const dM = new Float32Array(M.length);
  const value = p.objective.valueAndGradient(M, dM);
  const dQ = await p.products.pullback(dM, k);
  for (let i = 0; i < k; i++) for (let c = 0; c < D; c++) dW[i * D + c] = dQ[i * D + c] * R[c];
  return value;
}

/** Column-wise softmax over prototypes: W[:, c] = softmax(Z[:, c]), Z and W k x D. */
export function softmaxColumns(Z: ArrayLike<number>, k: number, D: number, W: Float64Array = new Float64Array(k * D)): Float64Array {
  for (let c = 0; c < D; c++) {
    let m = -Infinity;
    for (let i = 0; i < k; i++) m = Math.max(m, Z[i * D + c]);
    let s = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp(Z[i * D + c] - m);
      W[i * D + c] = e;
      s += e;
    }
    for (let i = 0; i < k; i++) W[i * D + c] /= s;
  }
  return W;
}

/** Pull dL/dW back through the column softmax: dZ = W ⊙ (dW - sum_l W_l ⊙ dW_l). */
export function softmaxColumnsBackward(W: Float64Array, dW: Float64Array, k: number, D: number, dZ: Float64Array): void {
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += W[i * D + c] * dW[i * D + c];
    for (let i = 0; i < k; i++) dZ[i * D + c] = W[i * D + c] * (dW[i * D + c] - s);
  }
}

/** The objective as a function of the logits Z (k x D), with its analytic gradient. */
export async function objectiveAndLogitGradient(p: SplitProblem, Z: ArrayLike<number>, dZ: Float64Array | null): Promise<number> {
  const W = softmaxColumns(Z, p.k, p.D);
  if (!dZ) return objectiveAt(p, W);
  const dW = new Float64Array(p.k * p.D);
  const value = await objectiveAndWeightGradient(p, W, dW);
  softmaxColumnsBackward(W, dW, p.k, p.D, dZ);
  return value;
}

/** Channel affinities of the `nelder-mead` parametrisation (k x D, each column sums to 1). */
export function channelAffinity(P: Float32Array, alpha: Float64Array, k: number, D: number): Float64Array {
  const A = new Float64Array(k * D);
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.abs(alpha[i]) * P[i * D + c];
    for (let i = 0; i < k; i++) A[i * D + c] = s > 0 ? (Math.abs(alpha[i]) * P[i * D + c]) / s : 1 / k;
  }
  return A;
}

/** Logits of the `nelder-mead` parametrisation: Z[i, c] = t_i · affinity[i, c] + o_i (o_k = 0). */
export function affinityLogits(theta: ArrayLike<number>, affinity: Float64Array, k: number, D: number): Float64Array {
  const Z = new Float64Array(k * D);
  for (let i = 0; i < k; i++) {
    const t = theta[i];
    const o = i < k - 1 ? theta[k + i] : 0;
    for (let c = 0; c < D; c++) Z[i * D + c] = t * affinity[i * D + c] + o;
  }
  return Z;
}

/** The uniform split. */
export async function splitUniform(p: SplitProblem): Promise<SplitResult> {
  const weights = uniformWeights(p.k, p.D);
  return { weights, objective: await objectiveAt(p, weights), evaluations: 1, iterations: 0, stop: 'fixed' };
}

/** Nelder-Mead over the 2k - 1 parameters of the channel-affinity softmax. */
export async function splitNelderMead(p: SplitProblem, affinity: Float64Array, opts: ResolvedOptions['nelderMead']): Promise<SplitResult> {
  const { k, D } = p;
  if (k === 1) return splitUniform(p);
  const dims = 2 * k - 1;
  const maxEvaluations = opts.maxEvaluations ?? Math.max(400, 150 * dims);
  const r = await nelderMead((theta) => objectiveAt(p, softmaxColumns(affinityLogits(theta, affinity, k, D), k, D)), new Float64Array(dims), {
    maxEvaluations,
    initialStep: opts.initialStep,
    restarts: opts.restarts,
  });
  return {
    weights: softmaxColumns(affinityLogits(r.x, affinity, k, D), k, D),
    objective: r.f,
    evaluations: r.evaluations,
    iterations: r.iterations,
    stop: r.evaluations >= maxEvaluations ? 'maxEvaluations' : 'tolerance',
  };
}

/**
 * The `gradient` allocator: per-channel weights W (k x D) with the analytic gradient, by spectral
 * projected gradient on the simplices (`spg`, from W = 1/k) or L-BFGS on softmax logits
 * (`softmax-lbfgs`, from Z = 0). Both start at the uniform split and never return worse.
 */
export async function splitGradient(p: SplitProblem, opts: ResolvedOptions['gradient']): Promise<SplitResult> {
  const { k, D } = p;
  if (k === 1) return splitUniform(p);
  if (opts.method === 'spg') {
    const r = await minimizeOnSimplices((W, dW) => objectiveAndWeightGradient(p, W, dW), uniformWeights(k, D), k, D, {
      maxIterations: opts.maxIterations,
      tolerance: opts.tolerance,
    });
    return { weights: r.W, objective: r.f, evaluations: r.evaluations, iterations: r.iterations, stop: r.reason };
  }
  const r = await minimizeLbfgs((Z, dZ) => objectiveAndLogitGradient(p, Z, dZ), new Float64Array(k * D), {
    maxIterations: opts.maxIterations,
    tolerance: opts.tolerance,
    memory: opts.memory,
    firstStep: 10,
  });
  return { weights: softmaxColumns(r.x, k, D), objective: r.f, evaluations: r.evaluations, iterations: r.iterations, stop: r.reason };
}

/** The residual shares of a free split: r_i = R/k + U_i - mean_j U_j. */
function freeShares(p: SplitProblem, U: ArrayLike<number>): Float64Array {
  const { k, D, R } = p;
  const S = new Float64Array(k * D);
  for (let c = 0; c < D; c++) {
    let m = 0;
    for (let i = 0; i < k; i++) m += U[i * D + c];
    m /= k;
    for (let i = 0; i < k; i++) S[i * D + c] = R[c] / k + U[i * D + c] - m;
  }
  return S;
}

/** Free-split candidates q_i = base_i + R/k + U_i - mean_j U_j (float32 for the engine). */
function freeCandidates(p: SplitProblem, U: ArrayLike<number>): Float32Array {
  const { k, D, base, R } = p;
  const Q = new Float32Array(k * D);
  for (let c = 0; c < D; c++) {
    let m = 0;
    for (let i = 0; i < k; i++) m += U[i * D + c];
    m /= k;
    for (let i = 0; i < k; i++) Q[i * D + c] = base[i * D + c] + R[c] / k + U[i * D + c] - m;
  }
  return Q;
}

/** sum_i ||r_i - R/k||^2: how far the shares are from the uniform split's. */
function distanceFromUniform(p: SplitProblem, shares: Float64Array): number {
  const { k, D, R } = p;
  let d = 0;
  for (let c = 0; c < D; c++) for (let i = 0; i < k; i++) d += (shares[i * D + c] - R[c] / k) ** 2;
  return d;
}

/**
 * The `free` allocator: residual shares r_i in any direction (not only w_i ⊙ R), summing to R:
 * r_i = R/k + U_i - mean_j U_j, U optimised by L-BFGS from 0 (the uniform split). The gradient is the
 * pull-back projected on the sum-zero subspace, so U never leaves the row space of F: the shares move
 * only in directions the class's features can show.
 */
export async function splitFree(p: SplitProblem, opts: ResolvedOptions['gradient'], ridge: number, holdout = 0): Promise<SplitResult> {
  const { k, D, R } = p;
  if (k === 1) return splitUniform(p);
  // Held-out images (every m-th, m = round(1 / holdout)) are left out of the fit; the iterate with the
  // best held-out objective is returned (early stopping: the split fits the training maps).
  const n = p.objective.groups.count;
  let train = p.objective;
  let validation: typeof p.objective | null = null;
  if (holdout > 0 && n >= 5) {
    const every = Math.max(2, Math.round(1 / holdout));
    const held = Uint8Array.from({ length: n }, (_, g) => (g % every === every - 1 ? 1 : 0));
    train = p.objective.restrict(held.map((x) => 1 - x));
    validation = p.objective.restrict(held);
  }
  let best: { value: number; U: Float64Array | null } = { value: Infinity, U: null };
  // The heatmap objective ignores each candidate's scale, so shares could grow without bound in
  // opposite directions (and the stored float32 sum lose its exactness): the ridge term
  // ridge x groups x sum_i ||r_i - R/k||^2 / ||R||^2 keeps them near the uniform split's size.
  let rr = 0;
  for (let c = 0; c < D; c++) rr += R[c] * R[c];
  const ridgeScale = rr > 0 ? (ridge * p.objective.groups.count) / rr : 0;
  const r = await minimizeLbfgs(
    async (U, dU) => {
      const M = await p.products.maps(freeCandidates(p, U), k);
      const shares = freeShares(p, U);
      const penalty = ridgeScale * distanceFromUniform(p, shares);
      if (validation) {
        const v = validation.value(M);
        if (v < best.value) best = { value: v, U: Float64Array.from(U) };
      }
      if (!dU) return train.value(M) + penalty;
      const dM = new Float32Array(M.length);
      const value = train.valueAndGradient(M, dM) + penalty;
      const dQ = await p.products.pullback(dM, k);
      for (let c = 0; c < D; c++) {
        let m = 0;
        for (let i = 0; i < k; i++) m += dQ[i * D + c];
        m /= k;
        for (let i = 0; i < k; i++) dU[i * D + c] = dQ[i * D + c] - m + 2 * ridgeScale * (shares[i * D + c] - R[c] / k);
      }
      return value;
    },
    new Float64Array(k * D),
    { maxIterations: opts.maxIterations, tolerance: opts.tolerance, memory: opts.memory, firstStep: 0.1 },
  );
  if (!validation) return { weights: uniformWeights(k, D), shares: freeShares(p, r.x), objective: r.f, evaluations: r.evaluations, iterations: r.iterations, stop: r.reason };
  // Reported: the whole objective (every image, with the ridge) at the chosen iterate.
  const U = best.U ?? r.x;
  const shares = freeShares(p, U);
  const objective = p.objective.value(await p.products.maps(freeCandidates(p, U), k)) + ridgeScale * distanceFromUniform(p, shares);
  return { weights: uniformWeights(k, D), shares, objective, evaluations: r.evaluations + 1, iterations: r.iterations, stop: `${r.reason}+held-out` };
}
