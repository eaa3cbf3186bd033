import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decomposeClass } from '../../src/prototypes/decompose.ts';
import { matchRows, plantedClass } from './planted.ts';

test('planted parts are recovered end to end: every NMF prototype matches a planted part (cos >= 0.99)', async () => {
  for (const seed of [1, 2]) {
    const cls = plantedClass({ n: 24, side: 6, d: 96, k: 3, seed, noise: 0.005, signed: 1 });
    const r = await decomposeClass(cls, { k: 3, seed: 7 });
    const cos = matchRows(r.initialPrototypes, cls.parts, 3, cls.d);
    for (const c of cos) assert.ok(c >= 0.99, `seed ${seed}: prototype/part cosines ${cos.map((x) => x.toFixed(4)).join(', ')}`);
    assert.ok(r.diagnostics.nmfRelError < 0.05, `NMF relative error ${r.diagnostics.nmfRelError}`);
    // Refined prototypes still point at their parts' maps (v has a positive part mix plus a signed component).
    assert.ok(r.diagnostics.meanPartFidelity > 0.9, `mean part fidelity ${r.diagnostics.meanPartFidelity}`);
  }
});

test('the decomposition reports what the method defines: R = v - alpha P, ||R||/||v||, sum of prototypes = v', async () => {
  const cls = plantedClass({ n: 10, side: 5, d: 48, k: 2, seed: 3, noise: 0.02, signed: 1 });
  const r = await decomposeClass(cls, { k: 2 });
  const { d } = cls;
  let rr = 0;
  let vv = 0;
  for (let c = 0; c < d; c++) {
    let expect = cls.v[c];
    for (let i = 0; i < 2; i++) expect -= r.alpha[i] * r.initialPrototypes[i * d + c];
    assert.ok(Math.abs(r.residual[c] - expect) <= 1e-9 * (1 + Math.abs(cls.v[c])), `R[${c}]`);
    rr += expect * expect;
    vv += cls.v[c] * cls.v[c];
    let sum = 0;
    for (let i = 0; i < 2; i++) sum += r.prototypes[i * d + c];
    assert.ok(Math.abs(sum - cls.v[c]) <= 1e-6 * Math.max(...cls.v.map(Math.abs)));
  }
  assert.ok(Math.abs(r.diagnostics.residualRatio - Math.sqrt(rr / vv)) < 1e-9);
  for (const a of r.alpha) assert.ok(a >= 0, 'default scaling is non-negative');
  assert.equal(r.options.scaling, 'nnls');
  assert.equal(r.options.allocator, 'free');
  assert.equal(r.options.objective, 'prototype');
  assert.equal(r.seed, 0);
  for (const x of r.initialPrototypes) assert.ok(x >= 0, 'NMF prototypes are non-negative');
});

test('features with negative values: the NMF shift is recorded and its warning names the class; heatmaps use the real features', async () => {
  const cls = plantedClass({ n: 8, side: 4, d: 32, k: 2, seed: 4, noise: 0.02 });
  const F = cls.F.slice();
  for (let r = 0; r < cls.n * cls.hw; r++) F[r * cls.d + 5] -= 0.75;
  const r = await decomposeClass({ ...cls, F, classIndex: 12 }, { k: 2 });
  assert.ok(r.diagnostics.nmfShift, 'shift recorded');
  assert.ok(r.diagnostics.nmfShift![5] < -0.7, `shift of channel 5 is ${r.diagnostics.nmfShift![5]}`);
  assert.ok(r.diagnostics.warnings.some((w) => w.startsWith('class 12:')), r.diagnostics.warnings.join('\n'));
});

test('maxImages keeps a seeded subset of the images and records how many were used', async () => {
  const cls = plantedClass({ n: 12, side: 4, d: 32, k: 2, seed: 5, noise: 0.02 });
  const a = await decomposeClass(cls, { k: 2, maxImages: 5, seed: 3 });
  const b = await decomposeClass(cls, { k: 2, maxImages: 5, seed: 3 });
  assert.equal(a.diagnostics.imagesUsed, 5);
  assert.deepEqual(a.prototypes, b.prototypes);
  const all = await decomposeClass(cls, { k: 2 });
  assert.equal(all.diagnostics.imagesUsed, 12);
});
