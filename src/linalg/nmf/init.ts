/**
 * Starting points for NMF: NNDSVDa (Boutsidis & Gallopoulos 2008, zeros filled with mean(F) as in
 * scikit-learn) from a seeded randomised truncated SVD (Halko, Martinsson & Tropp 2011), and a
 * seeded random start scaled like scikit-learn's (|N(0,1)| x sqrt(mean(F) / k)).
 *
 * The big products of the SVD go through a {@link RangeProducts} provider, so the same code runs
 * on the onnxruntime engine and on the plain-JS baseline. Factors are returned as Et (k x n,
 * E transposed) and P (k x d).
 */
import { Rng } from '../../util/random.ts';
import { orthonormalizeColumns, symmetricEigen } from '../dense.ts';

/** The products of F (n x d) a randomised SVD needs, for Q (d x l, row-major). */
export interface RangeProducts {
  /** Z = F Q (n x l) and W = F^T Z (d x l). */
  apply(Q: Float32Array, l: number): Promise<{ Z: Float32Array; W: Float32Array }>;
}

/** A rank-r truncated SVD F ~ U diag(S) V. */
export interface TruncatedSvd {
  r: number;
  /** n x r row-major. */
  U: Float64Array;
  /** r values, descending. */
  S: Float64Array;
  /** r x d row-major (right singular vectors as rows). */
  V: Float64Array;
}

/** scikit-learn's rule for the power iterations of its randomized_svd: 7 when k < 0.1 min(n, d), else 4. */
export function defaultPowerIterations(n: number, d: number, k: number): number {
  return k < 0.1 * Math.min(n, d) ? 7 : 4;
}

/** Eigenvalues of a Gram matrix at or below this fraction of the largest are treated as zero. */
const GRAM_RCOND = 1e-10;

/**
 * Randomised truncated SVD (Halko, Martinsson & Tropp 2011). A Gaussian Q (d x l, l = min(k +
 * oversamples, n, d)) is replaced by orth(F^T F Q) `powerIterations` times; then Y = F Q is
 * orthonormalised through the eigen-decomposition of Y^T Y (float64; Y T with T = V Lambda^-1/2, directions
 * with eigenvalue at or below 1e-10 of the largest dropped), B = T^T Y^T F = T^T W^T is formed from
 * W = F^T Y, and the SVD of B comes from the eigen-decomposition of B B^T. Exact when the rank of F
 * is at most l; returns r = min(k, l) triplets (zero where the rank runs out).
 */
export async function randomizedSvd(
  n: number,
  d: number,
  k: number,
  products: RangeProducts,
  rng: Rng,
  opts: { oversamples?: number; powerIterations?: number } = {},
): Promise<TruncatedSvd> {
  const l = Math.min(k + (opts.oversamples ?? 10), n, d);
  const q = opts.powerIterations ?? defaultPowerIterations(n, d, k);
  if (!Number.isInteger(q) || q < 0) throw new RangeError(`randomizedSvd: powerIterations must be an integer >= 0 (got ${q})`);
  const Q = new Float64Array(d * l);
  for (let i = 0; i < Q.length; i++) Q[i] = rng.normal();
  orthonormalizeColumns(Q, d, l);
  for (let it = 0; it < q; it++) {
    const { W } = await products.apply(Float32Array.from(Q), l);
    Q.set(W);
    orthonormalizeColumns(Q, d, l);
  }
  const { Z: Y, W } = await products.apply(Float32Array.from(Q), l);
  // Whitening T (l x m): Y T has orthonormal columns. Y^T Y in float64, so that float32 round-off
  // in Y shows up as eigenvalues near 1e-14 of the largest, well below the cut.
  const YtY = new Float64Array(l * l);
  for (let row = 0; row < n; row++) {
    const o = row * l;
    for (let a = 0; a < l; a++) {
      const ya = Y[o + a];
      if (ya === 0) continue;
      for (let b = a; b < l; b++) YtY[a * l + b] += ya * Y[o + b];
    }
  }
  for (let a = 0; a < l; a++) for (let b = 0; b < a; b++) YtY[a * l + b] = YtY[b * l + a];
  const gram = symmetricEigen(YtY, l);
  const keep: number[] = [];
  for (let j = 0; j < l; j++) if (gram.values[j] > Math.max(gram.values[0], 0) * GRAM_RCOND && gram.values[j] > 0) keep.push(j);
  const m = keep.length;
  const T = new Float64Array(l * m);
  keep.forEach((j, c) => {
    const s = 1 / Math.sqrt(gram.values[j]);
    for (let a = 0; a < l; a++) T[a * m + c] = gram.vectors[a * l + j] * s;
  });
  // Bt = W T (d x m) = B^T; B B^T = T^T (W^T W) T (m x m).
  const Bt = new Float64Array(d * m);
  for (let c = 0; c < d; c++) {
    for (let b = 0; b < m; b++) {
      let acc = 0;
      for (let a = 0; a < l; a++) acc += W[c * l + a] * T[a * m + b];
      Bt[c * m + b] = acc;
    }
  }
  const BBt = new Float64Array(m * m);
  for (let c = 0; c < d; c++) for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) BBt[a * m + b] += Bt[c * m + a] * Bt[c * m + b];
  const small = symmetricEigen(BBt, m);
  const r = Math.min(k, l);
  const U = new Float64Array(n * r);
  const S = new Float64Array(r);
  const V = new Float64Array(r * d);
  // Y T U_B (n x r) in one pass: first TU = T U_B (l x r).
  const TU = new Float64Array(l * r);
  for (let j = 0; j < Math.min(r, m); j++) {
    const s = Math.sqrt(Math.max(small.values[j], 0));
    if (!(s > 0)) continue;
    S[j] = s;
    for (let c = 0; c < d; c++) {
      let acc = 0;
      for (let b = 0; b < m; b++) acc += Bt[c * m + b] * small.vectors[b * m + j];
      V[j * d + c] = acc / s;
    }
    for (let a = 0; a < l; a++) {
      let acc = 0;
      for (let b = 0; b < m; b++) acc += T[a * m + b] * small.vectors[b * m + j];
      TU[a * r + j] = acc;
    }
  }
  for (let row = 0; row < n; row++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let a = 0; a < l; a++) acc += Y[row * l + a] * TU[a * r + j];
      U[row * r + j] = acc;
    }
  }
  return { r, U, S, V };
}

/**
 * NNDSVDa from a truncated SVD: component 0 from |u_0|, |v_0|; component j from the dominant
 * sign-part of (u_j, v_j); entries below 1e-6 and components the SVD cannot supply (k above the
 * rank or above min(n, d)) are set to mean(F).
 */
export function nndsvda(n: number, d: number, k: number, svd: TruncatedSvd, meanF: number): { Et: Float32Array; P: Float32Array } {
  const Et = new Float32Array(k * n);
  const P = new Float32Array(k * d);
  const { r, U, S, V } = svd;
  const u = new Float64Array(n);
  const v = new Float64Array(d);
  for (let j = 0; j < Math.min(k, r); j++) {
    for (let i = 0; i < n; i++) u[i] = U[i * r + j];
    for (let c = 0; c < d; c++) v[c] = V[j * d + c];
    let xp = 0, xn = 0, yp = 0, yn = 0;
    for (let i = 0; i < n; i++) (u[i] > 0 ? (xp += u[i] * u[i]) : (xn += u[i] * u[i]));
    for (let c = 0; c < d; c++) (v[c] > 0 ? (yp += v[c] * v[c]) : (yn += v[c] * v[c]));
    let sign: number;
    let uNorm: number;
    let vNorm: number;
    let sigma: number;
    if (j === 0) {
      sign = 0; // both parts: absolute values
      uNorm = 1;
      vNorm = 1;
      sigma = 1;
    } else {
      const mp = Math.sqrt(xp) * Math.sqrt(yp);
      const mn = Math.sqrt(xn) * Math.sqrt(yn);
      sign = mp > mn ? 1 : -1;
      uNorm = Math.sqrt(mp > mn ? xp : xn);
      vNorm = Math.sqrt(mp > mn ? yp : yn);
      sigma = mp > mn ? mp : mn;
    }
    if (!(sigma > 0) || !(S[j] > 0)) continue;
    const lambda = Math.sqrt(S[j] * sigma);
    const part = (x: number): number => (sign === 0 ? Math.abs(x) : Math.max(sign * x, 0));
    for (let i = 0; i < n; i++) Et[j * n + i] = (lambda * part(u[i])) / uNorm;
    for (let c = 0; c < d; c++) P[j * d + c] = (lambda * part(v[c])) / vNorm;
  }
  const fill = Math.fround(meanF);
  for (let i = 0; i < Et.length; i++) if (!(Et[i] >= 1e-6)) Et[i] = fill;
  for (let i = 0; i < P.length; i++) if (!(P[i] >= 1e-6)) P[i] = fill;
  return { Et, P };
}

/** scikit-learn's random start: P then E drawn as |N(0, 1)| x sqrt(mean(F) / k). E is generated row-major (n x k) and returned transposed. */
export function randomStart(n: number, d: number, k: number, meanF: number, rng: Rng): { Et: Float32Array; P: Float32Array } {
  const scale = Math.sqrt(meanF / k);
  const P = new Float32Array(k * d);
  for (let i = 0; i < P.length; i++) P[i] = scale * Math.abs(rng.normal());
  const Et = new Float32Array(k * n);
  for (let row = 0; row < n; row++) for (let j = 0; j < k; j++) Et[j * n + row] = scale * Math.abs(rng.normal());
  return { Et, P };
}
