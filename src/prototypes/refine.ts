/**
 * Refinement (method.md section 4): scale the initial prototypes against the head vector, split the
 * residual over them, and store refined prototypes whose sum is exactly the head vector.
 * Knows nothing of images or files: F is one class's stacked features, v its head vector.
 */
import { storeExactSum, type ExactSum } from './exact-sum.ts';
import { FeatureProducts } from './feature-products.ts';
import { centreMaps, groupEnergy, HeatmapObjective, mapFidelity, normalizeMaps, peakAgreement, type Groups } from './heatmap-objective.ts';
import type { ResolvedOptions } from './options.ts';
import { channelAffinity, objectiveAt, splitFree, splitGradient, splitNelderMead, splitUniform, type SplitProblem, type SplitResult } from './residual-split.ts';
import { maxAbs, scaled32, unitScale } from './power-of-two.ts';
import { CheckError } from '../util/errors.ts';
import { scalePrototypes } from './scaling.ts';

/** One class's features and head vector. F: N x D row-major, N = n·hw, rows grouped by image. */
export interface RefineInput {
  F: Float32Array;
  n: number;
  hw: number;
  d: number;
  v: Float32Array;
}

export interface Refinement {
  /** k scaling coefficients. */
  alpha: Float64Array;
  /** Residual R = v - sum_i alpha_i p_i (D, float64). */
  residual: Float64Array;
  /** Refined prototypes p~_i (k x D, float32). With allocator `none`, alpha_i p_i. */
  prototypes: Float32Array;
  /** Allocator `none` only: the stored residual term, with sum_i prototypes_i + residualTerm = v. */
  residualTerm: Float32Array | null;
  /** ||R|| / ||v|| (0 when v = 0). */
  residualRatio: number;
  /** Split objective of the uniform split R/k. */
  objectiveUniform: number;
  /** Split objective of the chosen split (allocator `none`: of the split r_i = 0). */
  objectiveChosen: number;
  /** Per prototype: mean over images of cos(Norm(F p_i), Norm(F p~_i)), maps centred per image for norm `image-centred`. */
  partFidelity: Float64Array;
  /** The same for the uniform split p~_i = alpha_i p_i + R/k (the baseline). */
  partFidelityUniform: Float64Array;
  /** Per prototype: fraction of images where the refined map's argmax is the NMF map's. */
  peakAgreement: Float64Array;
  /** The same for the uniform split. */
  peakAgreementUniform: Float64Array;
  exactness: Omit<ExactSum, 'rows'>;
  /** Objective evaluations and iterations of the allocator. */
  allocatorEvaluations: number;
  allocatorIterations: number;
  /** Why the allocator's optimiser stopped. */
  allocatorStop: string;
  warnings: string[];
}

function norm2(a: ArrayLike<number>, from = 0, to = a.length): number {
  let s = 0;
  for (let x = from; x < to; x++) s += a[x] * a[x];
  return Math.sqrt(s);
}

/**
 * Store a free split's prototypes alpha_i p_i + r_i (shares r_i, k x D) with an exact float32 sum.
 * The shares are not bounded by |R| channel by channel: where every term of a channel is many times
 * max |v|, float32 cannot store their sum exactly. They are then moved toward the uniform split,
 * r_i = R/k + t (r_i - R/k) with t halved (down to 2^-10, then 0, the uniform split, which always
 * stores exactly) until the stored sum is exact. Returns the stored rows, t and the float64 terms stored.
 */
export function storeFreeShares(scaled: Float64Array, R: Float64Array, shares: Float64Array, k: number, D: number, v: Float32Array, label: string): { stored: ExactSum; shrink: number; terms: Float64Array } {
  const terms = new Float64Array(k * D);
  for (let shrink = 1; ; shrink = shrink > 1 / 1024 ? shrink / 2 : 0) {
    for (let x = 0; x < k * D; x++) terms[x] = scaled[x] + R[x % D] / k + shrink * (shares[x] - R[x % D] / k);
    try {
      return { stored: storeExactSum(terms, k, v, label), shrink, terms };
    } catch (e) {
      if (!(e instanceof CheckError) || shrink === 0) throw e;
    }
  }
}

/**
 * Refine the initial prototypes P (k x D, non-negative) of one class.
 * @param label names the class in error messages
 */
export async function refinePrototypes(input: RefineInput, P: Float32Array, opts: ResolvedOptions, label: string): Promise<Refinement> {
  const { F, n, hw, d: D, v } = input;
  const k = opts.k;
  const N = n * hw;
  const warnings: string[] = [];
  const groups: Groups = opts.norm === 'class-l2' ? { count: 1, size: N } : { count: n, size: hw };
  const centred = opts.norm === 'image-centred';

  const { alpha, R } = scalePrototypes(P, k, D, v, opts.scaling);
  const vNorm = norm2(v);
  const rNorm = norm2(R);

  // The engine works at unit scale: heatmaps are normalised per group, so scaling the candidates
  // (and P) by a power of two changes no normalised map and no objective value, and keeps the
  // float32 products clear of overflow and underflow whatever the scale of F and v.
  const products = await FeatureProducts.create(F, N, D);
  const nmfMaps = await products.maps(scaled32(P, unitScale(maxAbs(P))), k);
  const targets = normalizeMaps(centred ? centreMaps(nmfMaps, k, groups) : nmfMaps, k, groups);

  const scaled = new Float64Array(k * D);
  let scaledMax = 0;
  for (let i = 0; i < k; i++) {
    for (let c = 0; c < D; c++) scaled[i * D + c] = alpha[i] * P[i * D + c];
    scaledMax = Math.max(scaledMax, norm2(scaled, i * D, (i + 1) * D));
  }
  const qs = unitScale(Math.max(maxAbs(scaled), maxAbs(R)));
  const base = new Float64Array(k * D);
  if (opts.objective === 'prototype') for (let x = 0; x < k * D; x++) base[x] = scaled[x] * qs;
  const sigma = (opts.objective === 'prototype' ? scaledMax + rNorm : rNorm) * qs;
  const objective = new HeatmapObjective(targets, k, groups, groupEnergy(F, D, groups), sigma, opts.peak.weight > 0 ? opts.peak : null, centred);
  const problem: SplitProblem = { k, D, base, R: R.map((x) => x * qs), products, objective };

  const uniform = await splitUniform(problem);
  let chosen: SplitResult;
  switch (opts.allocator) {
    case 'uniform':
      chosen = uniform;
      break;
    case 'nelder-mead':
      chosen = await splitNelderMead(problem, channelAffinity(P, alpha, k, D), opts.nelderMead);
      break;
    case 'gradient':
      chosen = await splitGradient(problem, opts.gradient);
      break;
    case 'free':
      chosen = await splitFree(problem, opts.gradient, opts.freeRidge, opts.freeHoldout);
      break;
    case 'none': {
      const zero = new Float64Array(k * D);
      chosen = { weights: zero, objective: await objectiveAt(problem, zero), evaluations: 1, iterations: 0, stop: 'fixed' };
      break;
    }
  }
  if (opts.allocator !== 'none' && !(chosen.objective <= uniform.objective)) {
    warnings.push(`${label}: the ${opts.allocator} split did not improve on the uniform split (${chosen.objective} > ${uniform.objective}); the uniform split is used`);
    chosen = { ...uniform, evaluations: chosen.evaluations, iterations: chosen.iterations, stop: 'uniform-fallback' };
  }

  // Terms to store: p~_i = alpha_i p_i + w_i ⊙ R, or (allocator none) alpha_i p_i and R itself.
  const rows = opts.allocator === 'none' ? k + 1 : k;
  let terms: Float64Array = new Float64Array(rows * D);
  const W = chosen.weights;
  const shares = chosen.shares;
  let shrink = 1;
  let stored: ExactSum;
  if (shares) {
    ({ stored, shrink, terms } = storeFreeShares(scaled, R, shares.map((x) => x / qs), k, D, v, label));
  } else {
    for (let i = 0; i < k; i++) for (let c = 0; c < D; c++) terms[i * D + c] = scaled[i * D + c] + W[i * D + c] * R[c];
    if (opts.allocator === 'none') terms.set(R, k * D);
    stored = storeExactSum(terms, rows, v, label, opts.allocator === 'none' ? k : undefined);
  }
  if (shrink < 1) {
    const M = await products.maps(scaled32(terms.subarray(0, k * D), qs), k);
    const objective = problem.objective.value(M);
    warnings.push(`${label}: the free split's shares were moved ${shrink === 0 ? 'back to the uniform split' : `toward the uniform split (t = ${shrink})`} so that float32 stores their sum exactly`);
    chosen = { ...chosen, objective, stop: `${chosen.stop}+shrunk` };
  }
  const prototypes = stored.rows.slice(0, k * D);
  const residualTerm = opts.allocator === 'none' ? stored.rows.slice(k * D) : null;

  // Part fidelity in the objective's own normalisation (centred maps for `image-centred`).
  const fidelityOf = (A: ArrayLike<number>, B: ArrayLike<number>) => (centred ? mapFidelity(centreMaps(A, k, groups), centreMaps(B, k, groups), k, groups) : mapFidelity(A, B, k, groups));
  const finalMaps = await products.maps(scaled32(prototypes, qs), k);
  const partFidelity = fidelityOf(nmfMaps, finalMaps);
  const uniformPrototypes = new Float32Array(k * D);
  for (let i = 0; i < k; i++) for (let c = 0; c < D; c++) uniformPrototypes[i * D + c] = (scaled[i * D + c] + R[c] / k) * qs;
  const uniformMaps = await products.maps(uniformPrototypes, k);
  const partFidelityUniform = fidelityOf(nmfMaps, uniformMaps);

  return {
    alpha,
    residual: R,
    prototypes,
    residualTerm,
    residualRatio: vNorm > 0 ? rNorm / vNorm : 0,
    objectiveUniform: uniform.objective,
    objectiveChosen: chosen.objective,
    partFidelity,
    partFidelityUniform,
    peakAgreement: peakAgreement(nmfMaps, finalMaps, k, n, hw),
    peakAgreementUniform: peakAgreement(nmfMaps, uniformMaps, k, n, hw),
    exactness: { maxAbsError: stored.maxAbsError, maxAbsErrorFloat32: stored.maxAbsErrorFloat32, tolerance: stored.tolerance },
    allocatorEvaluations: chosen.evaluations,
    allocatorIterations: chosen.iterations,
    allocatorStop: chosen.stop,
    warnings,
  };
}
