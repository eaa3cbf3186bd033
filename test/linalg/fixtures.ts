/** Seeded test matrices with known structure for the linear-algebra tests. */
import { Rng } from '../../src/util/random.ts';

/**
 * F = E* P* + noise (clipped at 0), n x d. P* row j lives on the channels c with c mod k == j
 * (disjoint supports, values in [0.5, 1.5]); E* entries are U^2 with each component switched off
 * in 30% of rows, so the factorisation is essentially unique up to permutation and scale.
 */
export function plantedNmf(n: number, d: number, k: number, noise: number, seed: number): { F: Float32Array; E: Float32Array; P: Float32Array } {
  const rng = new Rng(seed);
  const P = new Float32Array(k * d);
  for (let j = 0; j < k; j++) for (let c = 0; c < d; c++) P[j * d + c] = c % k === j ? 0.5 + rng.next() : 0;
  const E = new Float32Array(n * k);
  for (let i = 0; i < E.length; i++) E[i] = rng.next() < 0.3 ? 0 : rng.next() ** 2;
  const F = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += E[r * k + j] * P[j * d + c];
      F[r * d + c] = Math.max(0, s + noise * rng.normal());
    }
  }
  return { F, E, P };
}

/** Non-negative n x d data of true rank `rank` plus noise: a fit with k < rank has a non-trivial optimum. */
export function lowRankPlusNoise(n: number, d: number, rank: number, noise: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const A = Float64Array.from({ length: n * rank }, () => rng.next() ** 2);
  const B = Float64Array.from({ length: rank * d }, () => (rng.next() < 0.4 ? rng.next() : 0));
  const F = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < rank; j++) s += A[r * rank + j] * B[j * d + c];
      F[r * d + c] = Math.max(0, s + noise * rng.normal());
    }
  }
  return F;
}

/** ||F - E P||_F / ||F||_F in float64, computed independently of the solvers. */
export function relativeError(F: ArrayLike<number>, E: ArrayLike<number>, P: ArrayLike<number>, n: number, d: number, k: number): number {
  let err = 0;
  let norm = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += E[r * k + j] * P[j * d + c];
      err += (F[r * d + c] - s) ** 2;
      norm += F[r * d + c] ** 2;
    }
  }
  return norm === 0 ? 0 : Math.sqrt(err / norm);
}

/** Cosine similarity of two vectors given as (array, offset, stride) slices of length m. */
export function cosine(a: ArrayLike<number>, ao: number, as: number, b: ArrayLike<number>, bo: number, bs: number, m: number): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < m; i++) {
    const x = a[ao + i * as];
    const y = b[bo + i * bs];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/** All permutations of 0..k-1 (k small). */
export function permutations(k: number): number[][] {
  if (k === 0) return [[]];
  return permutations(k - 1).flatMap((p) => Array.from({ length: k }, (_, i) => [...p.slice(0, i), k - 1, ...p.slice(i)]));
}
