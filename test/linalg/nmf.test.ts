import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nmf } from '../../src/linalg/nmf/nmf.ts';
import { nmfMuPlainJs } from '../../src/linalg/nmf/plain.ts';
import { type NmfResult, type NmfSolver } from '../../src/linalg/nmf/types.ts';
import { InputError } from '../../src/util/errors.ts';
import { cosine, lowRankPlusNoise, permutations, plantedNmf, relativeError } from './fixtures.ts';

const solvers: NmfSolver[] = ['hals', 'mu'];
const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
const allFinite = (r: NmfResult) => r.E.every(Number.isFinite) && r.P.every(Number.isFinite) && Number.isFinite(r.relError);
const nonNegative = (r: NmfResult) => r.E.every((x) => x >= 0) && r.P.every((x) => x >= 0);

test('planted structure: both solvers recover P* and E* up to permutation and scale', async () => {
  const n = 300;
  const d = 60;
  const k = 3;
  const { F, E: Es, P: Ps } = plantedNmf(n, d, k, 1e-3, 11);
  for (const solver of solvers) {
    const r = await nmf(F, n, d, { k, solver, threads: 1 });
    assert.ok(nonNegative(r));
    let best = { score: -Infinity, rows: [] as number[], cols: [] as number[] };
    for (const perm of permutations(k)) {
      const rows = perm.map((pj, j) => cosine(r.P, j * d, 1, Ps, pj * d, 1, d));
      const cols = perm.map((pj, j) => cosine(r.E, j, k, Es, pj, k, n));
      const score = Math.min(...rows, ...cols);
      if (score > best.score) best = { score, rows, cols };
    }
    for (const c of best.rows) assert.ok(c >= 0.99, `${solver}: prototype cosine ${best.rows}`);
    for (const c of best.cols) assert.ok(c >= 0.99, `${solver}: map cosine ${best.cols}`);
    assert.ok(r.relError < 0.01, `${solver}: relError ${r.relError}`);
  }
});

test('reported relError equals ||F - E P|| / ||F|| computed independently in float64', async () => {
  const n = 200;
  const d = 40;
  const k = 4;
  const F = lowRankPlusNoise(n, d, 8, 0.05, 5);
  for (const solver of solvers) {
    const r = await nmf(F, n, d, { k, solver, threads: 1 });
    const independent = relativeError(F, r.E, r.P, n, d, k);
    assert.ok(Math.abs(r.relError - independent) <= 1e-5 * independent, `${solver}: ${r.relError} vs ${independent}`);
  }
});

test('each solver with default options ends within 2% of a long-run reference error', async () => {
  const n = 240;
  const d = 48;
  const k = 4;
  const F = lowRankPlusNoise(n, d, 10, 0.05, 3);
  // Reference: both solvers run 10x their default iteration cap with tol 0; the better one.
  const refHals = await nmf(F, n, d, { k, solver: 'hals', maxIter: 2000, tol: 0, threads: 1 });
  const refMu = await nmf(F, n, d, { k, solver: 'mu', maxIter: 10000, tol: 0, checkEvery: 100, threads: 1 });
  const reference = Math.min(refHals.relError, refMu.relError);
  assert.equal(refHals.iterations, 2000);
  for (const solver of solvers) {
    const r = await nmf(F, n, d, { k, solver, threads: 1 });
    assert.ok(r.relError <= reference * 1.02, `${solver}: ${r.relError} vs reference ${reference}`);
    assert.ok(r.relError >= reference * (1 - 1e-3), `${solver}: below the reference? ${r.relError} vs ${reference}`);
  }
});

test('error history never increases (both solvers are monotone) and tol stops the run', async () => {
  const n = 150;
  const d = 30;
  const k = 3;
  const F = lowRankPlusNoise(n, d, 6, 0.05, 9);
  for (const solver of solvers) {
    const r = await nmf(F, n, d, { k, solver, history: true, threads: 1, tol: 1e-4 });
    const h = r.history!;
    assert.equal(h[0].iteration, 0);
    for (let i = 1; i < h.length; i++) {
      assert.ok(h[i].relError <= h[i - 1].relError * (1 + 1e-6), `${solver}: error rose at check ${i}: ${h[i - 1].relError} -> ${h[i].relError}`);
      assert.equal(h[i].iteration - h[i - 1].iteration, 10);
    }
    assert.ok(r.converged, `${solver} should stop on tol`);
    const last = h.at(-1)!;
    const before = h.at(-2)!;
    assert.ok((before.relError - last.relError) / before.relError < 1e-4);
    assert.equal(last.relError, r.relError);
  }
});

test('tol 0 runs exactly maxIter iterations, also when not a multiple of checkEvery', async () => {
  const F = lowRankPlusNoise(50, 20, 4, 0.05, 2);
  for (const solver of solvers) {
    const r = await nmf(F, 50, 20, { k: 2, solver, tol: 0, maxIter: 23, history: true, threads: 1 });
    assert.equal(r.iterations, 23);
    assert.equal(r.converged, false);
    assert.deepEqual(
      r.history!.map((c) => c.iteration),
      [0, 10, 20, 23],
    );
  }
});

test('engine MU agrees with the plain-JS MU reference (float32 engine vs float64 JS)', async () => {
  const n = 180;
  const d = 36;
  const k = 3;
  const F = lowRankPlusNoise(n, d, 5, 0.05, 4);
  // Same seeded NNDSVDa start computed on both sides: the products differ in precision only.
  const engineStart = await nmf(F, n, d, { k, solver: 'mu', maxIter: 0, threads: 1 });
  const plainStart = await nmfMuPlainJs(F, n, d, k, { maxIter: 0 });
  assert.ok(Math.abs(engineStart.relError - plainStart.relError) <= 1e-5 * plainStart.relError, `start ${engineStart.relError} vs ${plainStart.relError}`);
  // From one explicit start, 60 iterations on both.
  const initial = { E: engineStart.E, P: engineStart.P };
  const e = await nmf(F, n, d, { k, solver: 'mu', initial, maxIter: 60, tol: 0, threads: 1 });
  const p = await nmfMuPlainJs(F, n, d, k, { initial, maxIter: 60, tol: 0 });
  assert.equal(e.init, 'given');
  assert.ok(Math.abs(e.relError - p.relError) <= 1e-5 * p.relError, `${e.relError} vs ${p.relError}`);
  let maxP = 0;
  for (const x of p.P) maxP = Math.max(maxP, x);
  for (let i = 0; i < e.P.length; i++) assert.ok(Math.abs(e.P[i] - p.P[i]) <= 1e-3 * maxP, `P[${i}] ${e.P[i]} vs ${p.P[i]}`);
});

test('NNDSVDa is exact on a positive rank-1 matrix (zero iterations)', async () => {
  const n = 70;
  const d = 25;
  const u = Float64Array.from({ length: n }, (_, i) => 0.5 + ((i * 37) % 11) / 10);
  const v = Float64Array.from({ length: d }, (_, c) => 0.2 + ((c * 13) % 7) / 5);
  const F = new Float32Array(n * d);
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) F[r * d + c] = u[r] * v[c];
  const r = await nmf(F, n, d, { k: 1, maxIter: 0, threads: 1 });
  assert.equal(r.iterations, 0);
  assert.ok(r.relError < 1e-5, `relError ${r.relError}`);
  assert.ok(cosine(r.P, 0, 1, v, 0, 1, d) > 1 - 1e-9);
  // A rank-1 range is found without power iterations too; on noisy data they change the start.
  const q0 = await nmf(F, n, d, { k: 1, maxIter: 0, threads: 1, svdPowerIterations: 0 });
  assert.ok(q0.relError < 1e-5, `relError ${q0.relError}`);
  const G = lowRankPlusNoise(90, 30, 6, 0.05, 2);
  const a = await nmf(G, 90, 30, { k: 3, maxIter: 0, threads: 1, svdPowerIterations: 0 });
  const b = await nmf(G, 90, 30, { k: 3, maxIter: 0, threads: 1 });
  assert.ok(!sameBits(a.P, b.P));
});

test('same seed gives identical bits; a different seed with random init gives a different start', async () => {
  const n = 160;
  const d = 32;
  const F = lowRankPlusNoise(n, d, 6, 0.05, 8);
  for (const solver of solvers) {
    for (const init of ['nndsvda', 'random'] as const) {
      const a = await nmf(F, n, d, { k: 4, solver, init, seed: 5, threads: 1 });
      const b = await nmf(F, n, d, { k: 4, solver, init, seed: 5, threads: 1 });
      assert.ok(sameBits(a.E, b.E) && sameBits(a.P, b.P), `${solver}/${init}`);
      assert.equal(a.relError, b.relError);
      assert.equal(a.seed, 5);
    }
  }
  const a = await nmf(F, n, d, { k: 4, init: 'random', seed: 1, maxIter: 0, threads: 1 });
  const b = await nmf(F, n, d, { k: 4, init: 'random', seed: 2, maxIter: 0, threads: 1 });
  assert.ok(!sameBits(a.P, b.P));
});

test('thread count does not change the bits (F baked and F as input, start included)', async () => {
  // Shapes where onnxruntime's GEMM does split work over two threads, with k = 8 so the
  // randomised SVD's sketch has l = 18 columns; d = 128 is where a column split would change the
  // K-blocking of an unpacked product.
  const n = 2000;
  const d = 128;
  const k = 8;
  const F = lowRankPlusNoise(n, d, 12, 0.05, 6);
  for (const residence of ['initializer', 'input'] as const) {
    for (const solver of solvers) {
      const one = await nmf(F, n, d, { k, solver, residence, threads: 1, maxIter: 30, tol: 0 });
      const two = await nmf(F, n, d, { k, solver, residence, threads: 2, maxIter: 30, tol: 0 });
      assert.ok(sameBits(one.E, two.E) && sameBits(one.P, two.P), `${residence}/${solver}`);
    }
  }
  // The two residences use different GEMM kernels: same answer to float32 round-off.
  const baked = await nmf(F, n, d, { k, residence: 'initializer', threads: 1, maxIter: 30, tol: 0 });
  const input = await nmf(F, n, d, { k, residence: 'input', threads: 1, maxIter: 30, tol: 0 });
  assert.ok(Math.abs(baked.relError - input.relError) <= 1e-5 * input.relError, `${baked.relError} vs ${input.relError}`);
});

test('components come out ordered by decreasing ||e_i|| ||p_i||', async () => {
  const n = 120;
  const d = 30;
  const k = 5;
  const r = await nmf(lowRankPlusNoise(n, d, 8, 0.05, 12), n, d, { k, threads: 1 });
  const energy = Array.from({ length: k }, (_, j) => {
    let e = 0;
    let p = 0;
    for (let i = 0; i < n; i++) e += r.E[i * k + j] ** 2;
    for (let c = 0; c < d; c++) p += r.P[j * d + c] ** 2;
    return Math.sqrt(e * p);
  });
  for (let j = 1; j < k; j++) assert.ok(energy[j] <= energy[j - 1], `energies ${energy}`);
});

test('edge: zero rows and zero columns', async () => {
  const n = 100;
  const d = 24;
  const k = 3;
  const { F } = plantedNmf(n, d, k, 1e-3, 21);
  const zeroRows = [0, 7, 50, 99];
  const zeroCols = [3, 4, 20];
  for (const r of zeroRows) F.fill(0, r * d, r * d + d);
  for (let r = 0; r < n; r++) for (const c of zeroCols) F[r * d + c] = 0;
  for (const solver of solvers) {
    const res = await nmf(F, n, d, { k, solver, threads: 1 });
    assert.ok(allFinite(res) && nonNegative(res), solver);
    assert.ok(res.relError < 0.02, `${solver}: relError ${res.relError}`);
    let maxE = 0;
    let maxP = 0;
    for (const x of res.E) maxE = Math.max(maxE, x);
    for (const x of res.P) maxP = Math.max(maxP, x);
    for (const r of zeroRows) for (let j = 0; j < k; j++) assert.ok(res.E[r * k + j] <= 1e-2 * maxE, `${solver}: E[${r}, ${j}] = ${res.E[r * k + j]}`);
    for (const c of zeroCols) for (let j = 0; j < k; j++) assert.ok(res.P[j * d + c] <= 1e-2 * maxP, `${solver}: P[${j}, ${c}] = ${res.P[j * d + c]}`);
  }
});

test('edge: k above the rank, n < k and d < k stay finite and fit (near) exactly', async () => {
  // Rank 2, k = 5: an exact non-negative fit exists.
  const n = 40;
  const d = 12;
  const F = new Float32Array(n * d);
  for (let r = 0; r < n; r++) for (let c = 0; c < d; c++) F[r * d + c] = (1 + (r % 3)) * (c < 6 ? 1 : 0) + (1 + (r % 5)) * (c >= 4 ? 0.5 : 0);
  for (const solver of solvers) {
    const res = await nmf(F, n, d, { k: 5, solver, threads: 1 });
    assert.ok(allFinite(res) && nonNegative(res), solver);
    assert.ok(res.relError < 0.01, `${solver}: k > rank relError ${res.relError}`);
  }
  // n = 2 < k = 4 and d = 3 < k = 4: E = I-like factors give an exact fit.
  const small = Float32Array.from([1, 2, 0, 0, 3, 4]);
  for (const solver of solvers) {
    for (const [nn, dd] of [
      [2, 3],
      [3, 2],
    ]) {
      const res = await nmf(small, nn, dd, { k: 4, solver, threads: 1, maxIter: solver === 'mu' ? 5000 : 500 });
      assert.ok(allFinite(res) && nonNegative(res), `${solver} ${nn}x${dd}`);
      assert.equal(res.E.length, nn * 4);
      assert.equal(res.P.length, 4 * dd);
      assert.ok(res.relError < 0.02, `${solver} ${nn}x${dd}: relError ${res.relError}`);
    }
  }
  // 1 x 1
  const one = await nmf(Float32Array.from([3]), 1, 1, { k: 1, threads: 1 });
  assert.ok(Math.abs(one.E[0] * one.P[0] - 3) < 1e-5);
});

test('edge: all-zero F returns zero factors, relError 0, no NaN', async () => {
  for (const solver of solvers) {
    const r = await nmf(new Float32Array(30 * 8), 30, 8, { k: 3, solver, history: true });
    assert.equal(r.relError, 0);
    assert.equal(r.iterations, 0);
    assert.ok(r.converged);
    assert.ok(r.E.every((x) => x === 0) && r.P.every((x) => x === 0));
    assert.equal(r.E.length, 90);
    assert.equal(r.P.length, 24);
    assert.equal(r.history!.length, 1);
  }
  const plain = await nmfMuPlainJs(new Float32Array(12), 3, 4, 2);
  assert.equal(plain.relError, 0);
});

test('edge: negative entries are shifted per channel by the minimum, recorded with a warning', async () => {
  const n = 80;
  const d = 16;
  const k = 2;
  const { F } = plantedNmf(n, d, k, 1e-3, 31);
  const G = Float32Array.from(F);
  const expectedShift = new Float32Array(d);
  for (const c of [1, 6, 11]) {
    let min = Infinity;
    for (let r = 0; r < n; r++) {
      G[r * d + c] -= 0.75 + 0.01 * c;
      min = Math.min(min, G[r * d + c]);
    }
    expectedShift[c] = min;
  }
  for (const solver of solvers) {
    const r = await nmf(G, n, d, { k, solver, threads: 1 });
    assert.ok(r.shift, 'shift recorded');
    assert.deepEqual(Array.from(r.shift!), Array.from(expectedShift));
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /negative entries in 3 of 16 channels/);
    // relError is that of the shifted matrix.
    const shifted = new Float32Array(n * d);
    for (let i = 0; i < shifted.length; i++) shifted[i] = G[i] - expectedShift[i % d];
    const independent = relativeError(shifted, r.E, r.P, n, d, k);
    assert.ok(Math.abs(r.relError - independent) <= 1e-4 * independent, `${r.relError} vs ${independent}`);
    assert.ok(nonNegative(r));
  }
  const clean = await nmf(F, n, d, { k, threads: 1 });
  assert.equal(clean.shift, undefined);
  assert.deepEqual(clean.warnings, []);
});

test('warm start: initial factors are used and checked', async () => {
  const n = 60;
  const d = 20;
  const k = 2;
  const F = lowRankPlusNoise(n, d, 3, 0.02, 14);
  const first = await nmf(F, n, d, { k, maxIter: 20, tol: 0, threads: 1 });
  const resumed = await nmf(F, n, d, { k, initial: { E: first.E, P: first.P }, maxIter: 0, threads: 1 });
  assert.equal(resumed.init, 'given');
  assert.ok(Math.abs(resumed.relError - first.relError) <= 1e-6 * first.relError);
  const bad = { E: new Float32Array(n * k).fill(-1), P: new Float32Array(k * d) };
  await assert.rejects(nmf(F, n, d, { k, initial: bad }), (e) => e instanceof InputError && /initial\.E\[0\] is -1/.test(e.message));
});

test('bad input is an InputError naming what was expected', async () => {
  const F = new Float32Array(12);
  await assert.rejects(nmf(F, 3, 5, { k: 2 }), (e) => e instanceof InputError && /F has 12 values, expected n x d = 3 x 5 = 15/.test(e.message));
  await assert.rejects(nmf(Float32Array.from([1, NaN, 2, 3]), 2, 2, { k: 1 }), (e) => e instanceof InputError && /F\[0, 1\] is NaN/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 0 }), (e) => e instanceof InputError && /nmf: option k: expected an integer >= 1, got 0/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, solver: 'als' as NmfSolver }), (e) => e instanceof InputError && /option solver must be 'hals' or 'mu'/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, tol: -1 }), (e) => e instanceof InputError && /option tol/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, threads: 0 }), (e) => e instanceof InputError && /option threads/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, init: 'svd' as 'random' }), (e) => e instanceof InputError && /option init/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, svdPowerIterations: -1 }), (e) => e instanceof InputError && /option svdPowerIterations/.test(e.message));
  await assert.rejects(nmf(F, 3, 4, { k: 2, residence: 'disk' as 'input' }), (e) => e instanceof InputError && /option residence/.test(e.message));
});
