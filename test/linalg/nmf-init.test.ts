import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { nndsvda, randomizedSvd, type RangeProducts } from '../../src/linalg/nmf/init.ts';
import { Rng } from '../../src/util/random.ts';
import { lowRankPlusNoise } from './fixtures.ts';

/** Exact float64 products of a row-major n x d matrix. */
function products(F: Float32Array, n: number, d: number): RangeProducts {
  return {
    apply: async (Q, l) => {
      const Z = new Float32Array(n * l);
      const W = new Float32Array(d * l);
      for (let r = 0; r < n; r++) for (let a = 0; a < l; a++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += F[r * d + c] * Q[c * l + a];
        Z[r * l + a] = s;
      }
      for (let c = 0; c < d; c++) for (let a = 0; a < l; a++) {
        let s = 0;
        for (let r = 0; r < n; r++) s += F[r * d + c] * Z[r * l + a];
        W[c * l + a] = s;
      }
      return { Z, W };
    },
  };
}

test('randomised SVD: top singular values and vectors match a full SVD (ml-matrix)', async () => {
  const n = 80;
  const d = 30;
  const k = 4;
  const F = lowRankPlusNoise(n, d, 6, 0.02, 17);
  const svd = await randomizedSvd(n, d, k, products(F, n, d), new Rng(3));
  const full = new SingularValueDecomposition(new Matrix(Array.from({ length: n }, (_, r) => Array.from(F.subarray(r * d, r * d + d)))));
  assert.equal(svd.r, k);
  for (let j = 0; j < k; j++) {
    const s = full.diagonal[j];
    assert.ok(Math.abs(svd.S[j] - s) <= 1e-4 * s, `sigma_${j}: ${svd.S[j]} vs ${s}`);
    let dot = 0;
    for (let c = 0; c < d; c++) dot += svd.V[j * d + c] * full.rightSingularVectors.get(c, j);
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-3, `v_${j} alignment ${dot}`);
  }
});

test('randomised SVD: exact for rank <= l even without power iterations; k above the rank gives zeros', async () => {
  const n = 40;
  const d = 20;
  const F = lowRankPlusNoise(n, d, 3, 0, 5);
  const svd = await randomizedSvd(n, d, 6, products(F, n, d), new Rng(1), { powerIterations: 0 });
  // Rebuild F from the triplets.
  let err = 0;
  let norm = 0;
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) {
    let s = 0;
    for (let j = 0; j < svd.r; j++) s += svd.U[r * svd.r + j] * svd.S[j] * svd.V[j * d + c];
    err += (F[r * d + c] - s) ** 2;
    norm += F[r * d + c] ** 2;
  }
  assert.ok(Math.sqrt(err / norm) < 1e-5, `reconstruction ${Math.sqrt(err / norm)}`);
  assert.ok(svd.S[3] === 0 && svd.S[4] === 0 && svd.S[5] === 0, `S = ${Array.from(svd.S)}`);
  // NNDSVDa fills the components the SVD could not supply with mean(F).
  const start = nndsvda(n, d, 6, svd, 0.25);
  for (let j = 3; j < 6; j++) {
    assert.ok(start.P.subarray(j * d, j * d + d).every((x) => x === 0.25));
    assert.ok(start.Et.subarray(j * n, j * n + n).every((x) => x === 0.25));
  }
});
