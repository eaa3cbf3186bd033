import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decomposeClass } from '../../src/prototypes/decompose.ts';
import { InputError } from '../../src/util/errors.ts';
import { plantedClass } from './planted.ts';

// Planted classes with a known number of non-negative components: m parts with disjoint channel
// supports and one blob each per image, plus b background components (NMF sees those as parts too).
const planted = (m: number, background: number, seed: number) =>
  plantedClass({ n: 24, side: 6, d: 192, k: m, seed, noise: 0.05, signed: 0.5, background, backgroundStrength: 0.5, partChannels: 0.6 });

test("k 'auto' finds the planted number of components (parts only, and parts + background), capped at kMax", async () => {
  for (const [m, b] of [[1, 0], [2, 0], [4, 0], [6, 0], [2, 3], [4, 3]] as const) {
    const c = planted(m, b, 10 + m + b);
    const r = await decomposeClass({ ...c, classIndex: m }, { k: 'auto', kMax: 8, gradient: { maxIterations: 10 } });
    assert.equal(r.k, m + b, `${m} parts + ${b} background: chose ${r.k} (gains ${r.diagnostics.kSelection?.gains.map((g) => g.toFixed(4)).join(' ')})`);
    assert.equal(r.prototypes.length, r.k * c.d);
    assert.equal(r.alpha.length, r.k);
    // The decomposition at the chosen k is exact like any other.
    for (let ch = 0; ch < c.d; ch++) {
      let s = 0;
      for (let i = 0; i < r.k; i++) s += r.prototypes[i * c.d + ch];
      assert.ok(Math.abs(s - c.v[ch]) <= 1e-6 * Math.max(...Array.from(c.v, Math.abs)), `channel ${ch}`);
    }
    const sel = r.diagnostics.kSelection!;
    assert.equal(sel.relErrors.length, 8);
    assert.equal(sel.reason, 'elbow');
    assert.equal(r.options.k, 8, 'the options record kMax');
    assert.deepEqual(r.options.kAuto, { minGain: 0.02, minRatio: 0.1 });
  }
  // 6 parts + 3 background with kMax 5: the cap.
  const r = await decomposeClass(planted(6, 3, 3), { k: 'auto', kMax: 5, gradient: { maxIterations: 5 } });
  assert.equal(r.k, 5);
  assert.equal(r.diagnostics.kSelection!.reason, 'kMax');
});

test("k 'auto': the NMF error curve decreases; bad kMax / kMinGain are named", async () => {
  const r = await decomposeClass(planted(3, 0, 4), { k: 'auto', kMax: 6, gradient: { maxIterations: 5 } });
  const e = r.diagnostics.kSelection!.relErrors;
  for (let j = 1; j < e.length; j++) assert.ok(e[j] <= e[j - 1] + 1e-3, `e_${j + 1} = ${e[j]} > e_${j} = ${e[j - 1]}`);
  assert.equal(r.diagnostics.nmfRelError, e[r.k - 1], 'the decomposition uses the NMF run of the chosen k');
  await assert.rejects(decomposeClass(planted(2, 0, 1), { k: 'auto', kMax: 0 }), (err: Error) => err instanceof InputError && /kMax/.test(err.message));
  await assert.rejects(decomposeClass(planted(2, 0, 1), { k: 'auto', kMinGain: 2 }), (err: Error) => err instanceof InputError && /kMinGain/.test(err.message));
});
