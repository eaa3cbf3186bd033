import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckError } from '../../src/util/errors.ts';
import { decomposeClass, type ClassDecomposition } from '../../src/prototypes/decompose.ts';
import { storeExactSum } from '../../src/prototypes/exact-sum.ts';
import { type Allocator, type Scaling } from '../../src/prototypes/options.ts';
import { Rng } from '../../src/util/random.ts';
import { plantedClass } from './planted.ts';

const allocators: Allocator[] = ['uniform', 'nelder-mead', 'gradient', 'free', 'none'];
const scalings: Scaling[] = ['lstsq', 'nnls'];

/** Check the invariant from the stored float32 values themselves, summed in float64. */
function assertExact(r: ClassDecomposition, v: Float32Array, what: string): void {
  const { k, d } = r;
  let vmax = 0;
  for (const x of v) vmax = Math.max(vmax, Math.abs(x));
  for (let c = 0; c < d; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += r.prototypes[i * d + c];
    if (r.residualTerm) s += r.residualTerm[c];
    assert.ok(Math.abs(s - v[c]) <= 1e-6 * vmax, `${what}: channel ${c}: sum ${s} vs v ${v[c]} (max |v| ${vmax})`);
  }
  assert.ok(r.diagnostics.exactness.maxAbsError <= r.diagnostics.exactness.tolerance);
  assert.equal(r.residualTerm !== null, r.options.allocator === 'none');
}

// Small and quick: every allocator's optimiser gets a small budget.
const budget = { nelderMead: { maxEvaluations: 120 }, gradient: { maxIterations: 15 } };

test('random signed head vectors: sum of refined prototypes = v for every allocator and both scalings', async () => {
  const cls = plantedClass({ n: 8, side: 4, d: 40, k: 3, seed: 11, noise: 0.05, signed: 2, background: 1 });
  for (const scaling of scalings) {
    for (const allocator of allocators) {
      const r = await decomposeClass(cls, { k: 3, scaling, allocator, ...budget });
      assertExact(r, cls.v, `${scaling}/${allocator}`);
      if (allocator === 'none') {
        // Prototypes are alpha_i p_i, the residual its own term.
        for (let i = 0; i < 3; i++) {
          for (let c = 0; c < cls.d; c += 7) {
            const want = r.alpha[i] * r.initialPrototypes[i * cls.d + c];
            assert.ok(Math.abs(r.prototypes[i * cls.d + c] - want) <= 6e-8 * Math.abs(want), `alpha_i p_i stored as its float32 rounding`);
          }
        }
      }
      if (scaling === 'nnls') for (const a of r.alpha) assert.ok(a >= 0);
    }
  }
});

test('adversarial: v orthogonal to every prototype, v = 0, k = 1, huge and tiny scales', async () => {
  // Channels 0..23 carry the parts; channels 24..39 are never active, so every NMF prototype is 0 there.
  const base = plantedClass({ n: 6, side: 4, d: 40, k: 2, seed: 12, noise: 0, partChannels: 0.6 });
  const active = new Set<number>();
  for (let r = 0; r < base.n * base.hw; r++) for (let c = 0; c < base.d; c++) if (base.F[r * base.d + c] !== 0) active.add(c);
  const rng = new Rng(5);
  const vOrth = new Float32Array(base.d);
  for (let c = 0; c < base.d; c++) if (!active.has(c)) vOrth[c] = rng.normal();
  assert.ok(active.size < base.d, 'some channels are inactive');

  const cases: { name: string; F: Float32Array; v: Float32Array; k: number }[] = [
    { name: 'v orthogonal to the prototypes', F: base.F, v: vOrth, k: 2 },
    { name: 'v = 0', F: base.F, v: new Float32Array(base.d), k: 2 },
    { name: 'k = 1', F: base.F, v: base.v, k: 1 },
    { name: 'huge scale', F: base.F.map((x) => x * 1e12), v: base.v.map((x) => x * 1e12), k: 2 },
    { name: 'tiny scale', F: base.F.map((x) => x * 1e-12), v: base.v.map((x) => x * 1e-12), k: 2 },
    { name: 'huge v, tiny F', F: base.F.map((x) => x * 1e-10), v: base.v.map((x) => x * 1e10), k: 2 },
  ];
  for (const c of cases) {
    for (const scaling of scalings) {
      for (const allocator of allocators) {
        const r = await decomposeClass({ F: c.F, n: base.n, hw: base.hw, d: base.d, v: c.v, classIndex: 3 }, { k: c.k, scaling, allocator, ...budget });
        assertExact(r, c.v, `${c.name}, ${scaling}/${allocator}`);
        for (const x of r.prototypes) assert.ok(Number.isFinite(x), `${c.name}: finite prototypes`);
        for (const x of r.diagnostics.partFidelity) assert.ok(x >= -1 - 1e-9 && x <= 1 + 1e-9, `${c.name}: fidelity ${x}`);
        if (c.name === 'v = 0') for (const x of r.prototypes) assert.equal(x, 0);
        if (c.name === 'v orthogonal to the prototypes') {
          for (const a of r.alpha) assert.ok(Math.abs(a) < 1e-9, `${scaling}: alpha ${a} for v orthogonal to P`);
          assert.ok(Math.abs(r.diagnostics.residualRatio - 1) < 1e-9);
        }
      }
    }
  }
});

test('a sum that float32 cannot store is a CheckError naming the class', () => {
  // Terms +1e8 and -1e8 + 1e-3: float32 spacing at 1e8 is 8, so 1e-3 cannot survive.
  const terms = Float64Array.from([1e8, -1e8 + 1e-3]);
  assert.throws(() => storeExactSum(terms, 2, [1e-3], 'class 7'), (e: unknown) => e instanceof CheckError && /class 7/.test(e.message) && /channel 0/.test(e.message));
});

test('rounding is repaired: terms whose float32 roundings do not add up are stored so that they do', () => {
  const rng = new Rng(9);
  const D = 500;
  const k = 10;
  const v = new Float32Array(D).map(() => rng.normal() * 3);
  const terms = new Float64Array(k * D);
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k - 1; i++) {
      terms[i * D + c] = rng.normal() * 10 + 1e-9 * rng.normal();
      s += terms[i * D + c];
    }
    terms[(k - 1) * D + c] = v[c] - s;
  }
  // Naive float32 rounding loses the invariant ...
  let naive = 0;
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.fround(terms[i * D + c]);
    naive = Math.max(naive, Math.abs(s - v[c]));
  }
  assert.ok(naive > 1e-7, `naive rounding error ${naive}`);
  // ... the stored terms keep it, and stay within float32 rounding of the float64 terms.
  const out = storeExactSum(terms, k, v, 'class 0');
  assert.ok(out.maxAbsError <= out.tolerance);
  assert.ok(out.maxAbsError < naive / 10, `${out.maxAbsError} vs naive ${naive}`);
  for (let x = 0; x < k * D; x++) assert.ok(Math.abs(out.rows[x] - terms[x]) <= 1e-5 * (Math.abs(terms[x]) + 1), `term ${x}`);
});

test('free-split storage: shares too large for an exact float32 sum move toward the uniform split until it is exact', async () => {
  const { storeFreeShares } = await import('../../src/prototypes/refine.ts');
  const k = 3;
  const D = 16;
  const v = Float32Array.from({ length: D }, (_, c) => Math.sin(c + 1));
  const scaled = Float64Array.from({ length: k * D }, (_, x) => 0.1 * Math.cos(x));
  const R = Float64Array.from({ length: D }, (_, c) => v[c] - (scaled[c] + scaled[D + c] + scaled[2 * D + c]));
  // Shares that sum to R but cancel at 1e9 x |v|: no float32 rounding of them sums to v.
  const shares = new Float64Array(k * D);
  for (let c = 0; c < D; c++) {
    shares[c] = R[c] / k + 1e9 * (c + 1);
    shares[D + c] = R[c] / k - 0.5e9 * (c + 1);
    shares[2 * D + c] = R[c] / k - 0.5e9 * (c + 1);
  }
  const { stored, shrink } = storeFreeShares(scaled, R, shares, k, D, v, 'class 0');
  assert.ok(shrink < 1, 'the shares were shrunk');
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += stored.rows[i * D + c];
    assert.ok(Math.abs(s - v[c]) <= 1e-6, `channel ${c}: ${s} vs ${v[c]}`);
  }
  // Moderate shares are stored as they are.
  const mild = Float64Array.from(shares, (x, i) => R[i % D] / k + (x - R[i % D] / k) * 1e-9);
  assert.equal(storeFreeShares(scaled, R, mild, k, D, v, 'class 0').shrink, 1);
});
