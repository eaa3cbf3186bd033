import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Matrix, QrDecomposition } from 'ml-matrix';
import { leastSquares, nonNegativeLeastSquares } from '../../src/linalg/least-squares.ts';
import { InputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';

const close = (actual: number, expected: number, tol: number, what: string) => assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);

function randomProblem(k: number, d: number, seed: number): { P: Float32Array; v: Float32Array } {
  const rng = new Rng(seed);
  return { P: Float32Array.from({ length: k * d }, () => rng.next()), v: Float32Array.from({ length: d }, () => rng.normal()) };
}

/** ||v - alpha P||^2 in float64. */
function objective(P: ArrayLike<number>, k: number, d: number, v: ArrayLike<number>, alpha: ArrayLike<number>): number {
  let s = 0;
  for (let c = 0; c < d; c++) {
    let r = v[c];
    for (let i = 0; i < k; i++) r -= alpha[i] * P[i * d + c];
    s += r * r;
  }
  return s;
}

test('leastSquares: hand-computed 2 x 3 case', () => {
  // P = [[1,0,1],[0,1,1]], v = [1,2,4]: G = [[2,1],[1,2]], b = [5,6] -> alpha = [4/3, 7/3],
  // fit = [4/3, 7/3, 11/3], R = [-1/3, -1/3, 1/3].
  const r = leastSquares(Float32Array.from([1, 0, 1, 0, 1, 1]), 2, 3, Float32Array.from([1, 2, 4]));
  close(r.alpha[0], 4 / 3, 1e-12, 'alpha0');
  close(r.alpha[1], 7 / 3, 1e-12, 'alpha1');
  [-1 / 3, -1 / 3, 1 / 3].forEach((x, i) => close(r.residual[i], x, 1e-12, `R${i}`));
  assert.equal(r.rank, 2);
});

test('leastSquares: residual orthogonal to every prototype, alpha equal to an independent QR solve', () => {
  const k = 6;
  const d = 400;
  const { P, v } = randomProblem(k, d, 7);
  const r = leastSquares(P, k, d, v);
  let rNorm = 0;
  for (const x of r.residual) rNorm += x * x;
  rNorm = Math.sqrt(rNorm);
  for (let i = 0; i < k; i++) {
    let dot = 0;
    let pNorm = 0;
    for (let c = 0; c < d; c++) {
      dot += P[i * d + c] * r.residual[c];
      pNorm += P[i * d + c] ** 2;
    }
    assert.ok(Math.abs(dot) <= 1e-12 * Math.sqrt(pNorm) * rNorm, `p_${i} . R = ${dot}`);
  }
  // Independent: QR of the d x k design matrix P^T (ml-matrix), no normal equations.
  const A = new Matrix(Array.from({ length: d }, (_, c) => Array.from({ length: k }, (_, i) => P[i * d + c])));
  const ref = new QrDecomposition(A).solve(Matrix.columnVector(Array.from(v)));
  for (let i = 0; i < k; i++) close(r.alpha[i], ref.get(i, 0), 1e-9 * (1 + Math.abs(ref.get(i, 0))), `alpha${i}`);
});

test('leastSquares: duplicated prototype (rank-deficient) gives the finite minimum-norm answer', () => {
  const d = 50;
  const { P: one, v } = randomProblem(1, d, 3);
  const P = new Float32Array(2 * d);
  P.set(one, 0);
  P.set(one, d);
  const single = leastSquares(one, 1, d, v);
  const r = leastSquares(P, 2, d, v);
  assert.equal(r.rank, 1);
  // min-norm splits the single coefficient equally; the residual is that of the single prototype.
  close(r.alpha[0], single.alpha[0] / 2, 1e-10, 'alpha0');
  close(r.alpha[1], single.alpha[0] / 2, 1e-10, 'alpha1');
  for (let c = 0; c < d; c++) close(r.residual[c], single.residual[c], 1e-9, `R${c}`);
});

test('leastSquares: an all-zero prototype set gives alpha 0 and R = v', () => {
  const v = Float32Array.from([1, -2, 3]);
  const r = leastSquares(new Float32Array(6), 2, 3, v);
  assert.deepEqual(Array.from(r.alpha), [0, 0]);
  assert.deepEqual(Array.from(r.residual), [1, -2, 3]);
  assert.equal(r.rank, 0);
});

test('nonNegativeLeastSquares: hand case whose unconstrained optimum is negative in one coordinate', () => {
  // p1 = [1,0], p2 = [1,1], v = [1,-1]: unconstrained alpha = [2, -1]; with alpha >= 0 the answer
  // is alpha = [1, 0], R = [0, -1] (alpha = [0, b] gives at best ||v||^2 = 2 > 1).
  const P = Float32Array.from([1, 0, 1, 1]);
  const v = Float32Array.from([1, -1]);
  const ls = leastSquares(P, 2, 2, v);
  close(ls.alpha[0], 2, 1e-12, 'LS alpha0');
  close(ls.alpha[1], -1, 1e-12, 'LS alpha1');
  const r = nonNegativeLeastSquares(P, 2, 2, v);
  close(r.alpha[0], 1, 1e-12, 'alpha0');
  assert.equal(r.alpha[1], 0);
  close(r.residual[0], 0, 1e-12, 'R0');
  close(r.residual[1], -1, 1e-12, 'R1');
  // KKT: p2 . R = -1 <= 0 for the coordinate held at zero.
  assert.ok(P[2] * r.residual[0] + P[3] * r.residual[1] < 0);
});

test('nonNegativeLeastSquares: KKT conditions hold and the optimum equals brute force over all active sets', () => {
  const k = 6;
  const d = 120;
  for (const seed of [1, 2, 3, 4]) {
    const { P, v } = randomProblem(k, d, seed);
    const r = nonNegativeLeastSquares(P, k, d, v);
    const unconstrained = leastSquares(P, k, d, v);
    assert.ok(unconstrained.alpha.some((a) => a < 0), `seed ${seed}: the test needs a negative unconstrained coordinate`);
    let scale = 0;
    for (const x of v) scale += x * x;
    scale = Math.sqrt(scale) * Math.sqrt(d);
    for (let i = 0; i < k; i++) {
      let g = 0;
      for (let c = 0; c < d; c++) g += P[i * d + c] * r.residual[c];
      assert.ok(r.alpha[i] >= 0, `alpha_${i} >= 0`);
      if (r.alpha[i] > 0) assert.ok(Math.abs(g) <= 1e-9 * scale, `seed ${seed}: free coordinate ${i} has gradient ${g}`);
      else assert.ok(g <= 1e-9 * scale, `seed ${seed}: coordinate ${i} at 0 has positive gradient ${g}`);
    }
    // Brute force: the best feasible unconstrained solution over every subset of coordinates.
    let best = Infinity;
    for (let mask = 0; mask < 1 << k; mask++) {
      const idx = Array.from({ length: k }, (_, i) => i).filter((i) => mask & (1 << i));
      if (idx.length === 0) {
        best = Math.min(best, objective(P, k, d, v, new Float64Array(k)));
        continue;
      }
      const sub = new Float32Array(idx.length * d);
      idx.forEach((i, a) => sub.set(P.subarray(i * d, i * d + d), a * d));
      const s = leastSquares(sub, idx.length, d, v);
      if (s.alpha.some((a) => a < 0)) continue;
      const full = new Float64Array(k);
      idx.forEach((i, a) => (full[i] = s.alpha[a]));
      best = Math.min(best, objective(P, k, d, v, full));
    }
    const got = objective(P, k, d, v, r.alpha);
    assert.ok(got <= best * (1 + 1e-10) + 1e-12, `seed ${seed}: NNLS objective ${got} vs brute force ${best}`);
  }
});

test('nonNegativeLeastSquares: a non-negative unconstrained optimum is returned unchanged', () => {
  const P = Float32Array.from([1, 0, 1, 0, 1, 1]);
  const v = Float32Array.from([1, 2, 4]);
  const r = nonNegativeLeastSquares(P, 2, 3, v);
  close(r.alpha[0], 4 / 3, 1e-12, 'alpha0');
  close(r.alpha[1], 7 / 3, 1e-12, 'alpha1');
});

test('least squares: bad shapes and values are InputErrors naming the argument', () => {
  assert.throws(() => leastSquares(new Float32Array(5), 2, 3, new Float32Array(3)), (e) => e instanceof InputError && /P has 5 values, expected k x d = 2 x 3 = 6/.test(e.message));
  assert.throws(() => nonNegativeLeastSquares(new Float32Array(6), 2, 3, new Float32Array(2)), (e) => e instanceof InputError && /v has 2 values/.test(e.message));
  assert.throws(() => leastSquares(Float32Array.from([1, NaN]), 1, 2, new Float32Array(2)), (e) => e instanceof InputError && /P\[0, 1\] is NaN/.test(e.message));
  assert.throws(() => leastSquares(new Float32Array(0), 0, 3, new Float32Array(3)), (e) => e instanceof InputError && /k must be a positive integer/.test(e.message));
});
