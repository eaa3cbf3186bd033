/**
 * Planted structure for the prototype tests and benchmark: features F = E* P* + noise grouped in
 * images, with known parts P* (disjoint channel supports) and known per-image part maps E*
 * (one Gaussian blob per part per image), and a signed head vector.
 */
import { Rng } from '../../src/util/random.ts';

export interface PlantedClass {
  /** n·hw x d features, non-negative. */
  F: Float32Array;
  n: number;
  hw: number;
  d: number;
  /** Head vector: sum_i beta_i p*_i plus a signed component. */
  v: Float32Array;
  /** Planted parts, k x d (each row non-negative, disjoint channel supports). */
  parts: Float32Array;
  /** Planted part maps, n·hw x k. */
  maps: Float32Array;
  k: number;
}

export interface PlantedOptions {
  n: number;
  /** Spatial side: hw = side². */
  side: number;
  d: number;
  k: number;
  seed: number;
  /** Std of the Gaussian noise added before clipping at 0, relative to a typical activation. Default 0.01. */
  noise?: number;
  /** ||signed component|| / ||sum_i beta_i p*_i||. 0 gives v in the parts' cone. Default 1. */
  signed?: number;
  /** Fraction of channels owned by some part (the rest carry background or noise only). Default 0.8. */
  partChannels?: number;
  /**
   * Extra non-negative components beyond the k parts (background texture): each owns a share of the
   * channels no part owns and has its own broad blob per image. Default 0.
   */
  background?: number;
  /** Amplitude of the background components relative to the parts. Default 0.5. */
  backgroundStrength?: number;
}

/** One planted class. */
export function plantedClass(o: PlantedOptions): PlantedClass {
  const rng = new Rng(o.seed);
  const { n, side, d, k } = o;
  const hw = side * side;
  const noise = o.noise ?? 0.01;
  const owned = Math.max(k, Math.floor(d * (o.partChannels ?? 0.8)));
  // Parts: a random permutation of channels, owned channels dealt round-robin.
  const perm = rng.shuffle(Array.from({ length: d }, (_, c) => c));
  const parts = new Float32Array(k * d);
  for (let t = 0; t < owned; t++) parts[(t % k) * d + perm[t]] = rng.uniform(0.5, 1.5);
  const nb = o.background ?? 0;
  const bgStrength = o.backgroundStrength ?? 0.5;
  const bgParts = new Float32Array(nb * d);
  for (let t = owned; t < d && nb > 0; t++) bgParts[((t - owned) % nb) * d + perm[t]] = rng.uniform(0.5, 1.5);
  // Per-image part maps: one blob per part at a random centre.
  const maps = new Float32Array(n * hw * k);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < k; i++) {
      const cy = rng.uniform(0, side - 1);
      const cx = rng.uniform(0, side - 1);
      const amp = rng.uniform(0.5, 1.5);
      const s2 = 2 * Math.pow(rng.uniform(0.6, 1.2), 2);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const r2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
          maps[(j * hw + y * side + x) * k + i] = amp * Math.exp(-r2 / s2);
        }
      }
    }
  }
  const bgMaps = new Float32Array(n * hw * nb);
  for (let j = 0; j < n; j++) {
    for (let b = 0; b < nb; b++) {
      const cy = rng.uniform(-1, side);
      const cx = rng.uniform(-1, side);
      const amp = bgStrength * rng.uniform(0.5, 1.5);
      const s2 = 2 * Math.pow(rng.uniform(1.5, 3), 2);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const r2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
          bgMaps[(j * hw + y * side + x) * nb + b] = amp * Math.exp(-r2 / s2);
        }
      }
    }
  }
  const N = n * hw;
  const F = new Float32Array(N * d);
  // Channel supports (each channel belongs to at most one part or background component).
  const support = (rows: Float32Array, count: number) =>
    Array.from({ length: count }, (_, i) => Array.from({ length: d }, (_, c) => c).filter((c) => rows[i * d + c] !== 0));
  const partSupport = support(parts, k);
  const bgSupport = support(bgParts, nb);
  for (let r = 0; r < N; r++) {
    const row = r * d;
    for (let i = 0; i < k; i++) {
      const e = maps[r * k + i];
      for (const c of partSupport[i]) F[row + c] += e * parts[i * d + c];
    }
    for (let b = 0; b < nb; b++) {
      const e = bgMaps[r * nb + b];
      for (const c of bgSupport[b]) F[row + c] += e * bgParts[b * d + c];
    }
    if (noise > 0) for (let c = 0; c < d; c++) F[row + c] = Math.max(0, F[row + c] + noise * rng.normal());
  }
  // Head vector: positive mix of the parts plus a signed component of relative size `signed`.
  const pos = new Float64Array(d);
  for (let i = 0; i < k; i++) {
    const beta = rng.uniform(0.5, 1.5);
    for (let c = 0; c < d; c++) pos[c] += beta * parts[i * d + c];
  }
  // Signed component: negative weight on the background channels (what other classes use) plus
  // random signs everywhere, in equal parts by norm.
  const g = new Float64Array(d);
  const bgSum = new Float64Array(d);
  for (let b = 0; b < nb; b++) for (let c = 0; c < d; c++) bgSum[c] -= bgParts[b * d + c];
  const rnd = Float64Array.from({ length: d }, () => rng.normal());
  const bgNorm = Math.hypot(...bgSum);
  const rndNorm = Math.hypot(...rnd);
  for (let c = 0; c < d; c++) g[c] = (bgNorm > 0 ? bgSum[c] / bgNorm : 0) + rnd[c] / rndNorm;
  const scale = (o.signed ?? 1) * Math.hypot(...pos) / Math.hypot(...g);
  const v = new Float32Array(d);
  for (let c = 0; c < d; c++) v[c] = pos[c] + scale * g[c];
  return { F, n, hw, d, v, parts, maps, k };
}

/** Cosine of two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let x = 0; x < a.length; x++) {
    ab += a[x] * b[x];
    aa += a[x] * a[x];
    bb += b[x] * b[x];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/**
 * Match found rows to planted rows one to one, greedily by largest cosine (exact for well-separated
 * parts). Returns, per found row, the cosine to its matched planted row.
 */
export function matchRows(found: Float32Array, planted: Float32Array, k: number, d: number): number[] {
  const C = Array.from({ length: k }, (_, i) =>
    Array.from({ length: k }, (_, j) => cosine(found.subarray(i * d, (i + 1) * d), planted.subarray(j * d, (j + 1) * d))),
  );
  const out = new Array<number>(k).fill(NaN);
  const usedJ = new Set<number>();
  for (let t = 0; t < k; t++) {
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < k; i++) {
      if (!Number.isNaN(out[i])) continue;
      for (let j = 0; j < k; j++) if (!usedJ.has(j) && (bi < 0 || C[i][j] > C[bi][bj])) (bi = i), (bj = j);
    }
    out[bi] = C[bi][bj];
    usedJ.add(bj);
  }
  return out;
}
