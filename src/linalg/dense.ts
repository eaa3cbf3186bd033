/**
 * Small dense float64 helpers shared by the solvers: symmetric eigen-solves, a rank-safe
 * symmetric positive semi-definite solve and orthonormalisation. Everything here
 * works on row-major `Float64Array`s of at most a few thousand rows by a few dozen columns;
 * large products belong to the onnxruntime graphs in `nmf/graphs.ts`.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/** Eigen-decomposition of a symmetric m x m matrix (row-major), eigenvalues in descending order. */
export interface SymmetricEigen {
  /** m eigenvalues, largest first. */
  values: Float64Array;
  /** m x m row-major; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/** Eigen-decompose a symmetric matrix; the input is symmetrised ((A + A^T) / 2) first. */
export function symmetricEigen(A: ArrayLike<number>, m: number): SymmetricEigen {
  if (m === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };
  const rows: number[][] = [];
  for (let i = 0; i < m; i++) {
    const row = new Array<number>(m);
    for (let j = 0; j < m; j++) row[j] = 0.5 * (A[i * m + j] + A[j * m + i]);
    rows.push(row);
  }
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const lambda = evd.realEigenvalues;
  const V = evd.eigenvectorMatrix;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => lambda[b] - lambda[a] || a - b);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * m);
  order.forEach((src, dst) => {
    values[dst] = lambda[src];
    // Fix the sign so the largest-magnitude entry is positive: the result is then unique.
    let big = 0;
    for (let i = 0; i < m; i++) if (Math.abs(V.get(i, src)) > Math.abs(big)) big = V.get(i, src);
    const s = big < 0 ? -1 : 1;
    for (let i = 0; i < m; i++) vectors[i * m + dst] = s * V.get(i, src);
  });
  return { values, vectors };
}

/**
 * Minimum-norm solution of G x = b for a symmetric positive semi-definite m x m matrix G
 * (a Gram matrix), via its eigen-decomposition: eigenvalues at or below `rcond` x the largest
 * are treated as zero, so a rank-deficient G gives the minimum-norm least-squares solution
 * instead of infinities. Returns x and the numerical rank used.
 */
export function solvePsd(G: ArrayLike<number>, m: number, b: ArrayLike<number>, rcond = 1e-12): { x: Float64Array; rank: number } {
  const x = new Float64Array(m);
  if (m === 0) return { x, rank: 0 };
  const { values, vectors } = symmetricEigen(G, m);
  const threshold = Math.max(values[0], 0) * rcond;
  let rank = 0;
  for (let j = 0; j < m; j++) {
    if (!(values[j] > threshold) || values[j] <= 0) continue;
    rank++;
    let proj = 0;
    for (let i = 0; i < m; i++) proj += vectors[i * m + j] * b[i];
    const c = proj / values[j];
    for (let i = 0; i < m; i++) x[i] += c * vectors[i * m + j];
  }
  return { x, rank };
}

/**
 * Orthonormalise the columns of a rows x cols row-major matrix in place (classical Gram-Schmidt,
 * applied twice for stability). A column that is numerically dependent on the earlier ones
 * (remaining norm at most `dropTol` x its original norm, or zero) is set to zero.
 * Returns the number of non-zero columns kept.
 */
export function orthonormalizeColumns(X: Float64Array, rows: number, cols: number, dropTol = 1e-10): number {
  let kept = 0;
  const col = new Float64Array(rows);
  for (let j = 0; j < cols; j++) {
    let norm0 = 0;
    for (let r = 0; r < rows; r++) {
      col[r] = X[r * cols + j];
      norm0 += col[r] * col[r];
    }
    norm0 = Math.sqrt(norm0);
    for (let pass = 0; pass < 2; pass++) {
      for (let q = 0; q < j; q++) {
        let dot = 0;
        for (let r = 0; r < rows; r++) dot += X[r * cols + q] * col[r];
        if (dot === 0) continue;
        for (let r = 0; r < rows; r++) col[r] -= dot * X[r * cols + q];
      }
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += col[r] * col[r];
    norm = Math.sqrt(norm);
    const keep = norm > 0 && norm > dropTol * norm0;
    for (let r = 0; r < rows; r++) X[r * cols + j] = keep ? col[r] / norm : 0;
    if (keep) kept++;
  }
  return kept;
}
