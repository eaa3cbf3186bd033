import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkCompleteness,
  checkLinearity,
  checkSensitivity,
  checkSymmetry,
  linearContributions,
  linearLogit,
  type ContributionFn,
  type Decomposition,
} from '../../src/evaluate/protocols/axioms.ts';
import { Rng } from '../../src/util/random.ts';

test('contributions by hand: means of the prototype maps', () => {
  // two positions, D = 2: x = [[1, 2], [3, 4]]; p0 = (1, 0) reads channel 0, p1 = (0, 1) channel 1
  const d: Decomposition = { prototypes: Float32Array.from([1, 0, 0, 1]), k: 2, dim: 2, bias: 0.5 };
  const x = Float32Array.from([1, 2, 3, 4]);
  assert.deepEqual(Array.from(linearContributions(d)(x, 2)), [2, 3]);
  // head row v = p0 + p1 = (1, 1): logit = mean(3, 7) + 0.5 = 5.5 = 2 + 3 + 0.5
  assert.equal(linearLogit(x, 2, Float32Array.from([1, 1]), 0.5), 5.5);
  const r = checkCompleteness(x, 2, d, 5.5);
  assert.ok(r.pass);
  assert.equal(r.worstError, 0);
});

/** A planted class: k non-negative prototypes summing (in float32) to the head row v; post-ReLU features. */
function planted(seed: number) {
  const rng = new Rng(seed);
  const k = 4;
  const D = 32;
  const HW = 49;
  const prototypes = Float32Array.from({ length: k * D }, () => Math.max(0, rng.normal()));
  const v = new Float32Array(D);
  for (let i = 0; i < k; i++) for (let c = 0; c < D; c++) v[c] += prototypes[i * D + c];
  const x = Float32Array.from({ length: HW * D }, () => Math.max(0, rng.normal() * 3));
  const d: Decomposition = { prototypes, k, dim: D, bias: -1.25 };
  return { d, v, x, HW, D, k, rng };
}

test('completeness holds for an exact decomposition and fails for a broken one by the planted amount', () => {
  const { d, v, x, HW, D } = planted(1);
  const logit = linearLogit(x, HW, v, d.bias);
  const ok = checkCompleteness(x, HW, d, logit);
  assert.ok(ok.pass, ok.detail);
  assert.ok(ok.worstError < 1e-4, `${ok.worstError}`);
  // break it: prototype 2 scaled by 1.1, so the sum misses 0.1 x its contribution
  const broken = { ...d, prototypes: Float32Array.from(d.prototypes) };
  for (let c = 0; c < D; c++) broken.prototypes[2 * D + c] *= 1.1;
  const c2 = linearContributions(d)(x, HW)[2];
  const bad = checkCompleteness(x, HW, broken, logit);
  assert.ok(!bad.pass);
  assert.ok(Math.abs(bad.worstError - 0.1 * c2) < 1e-3 * c2, `${bad.worstError} vs ${0.1 * c2}`);
});

test('linearity holds for the decomposition and fails for a nonlinear contribution function', () => {
  const { d, x, HW, rng } = planted(2);
  const x2 = Float32Array.from(x, () => Math.max(0, rng.normal()));
  const ok = checkLinearity(x, x2, HW, 0.7, -2.5, d);
  assert.ok(ok.pass, ok.detail);
  assert.equal(ok.checks, d.k);
  const linear = linearContributions(d);
  const squared: ContributionFn = (f, n) => linear(f, n).map((c) => c * c);
  const bad = checkLinearity(x, x2, HW, 0.7, -2.5, d, { contribute: squared });
  assert.ok(!bad.pass);
  assert.ok(bad.worstError > 1);
});

test('sensitivity: zero maps give zero, contributions move with the weighted features only', () => {
  const D = 4;
  const HW = 3;
  // p0 weights channels 0-1, p1 channel 2 with a negative weight (refined prototypes can be negative),
  // p2 channel 3 only; the input has nothing in channel 3, so p2's map is zero everywhere
  const d: Decomposition = { prototypes: Float32Array.from([1, 2, 0, 0, 0, 0, -1.5, 0, 0, 0, 0, 3]), k: 3, dim: D, bias: 0 };
  const baseline = new Float32Array(HW * D);
  const x = Float32Array.from([1, 0, 2, 0, 0, 1, 4, 0, 0, 0, 0, 0]);
  const ok = checkSensitivity(x, baseline, HW, d);
  assert.ok(ok.pass, ok.detail);
  assert.equal(ok.checks, 4); // 3 change checks + 1 zero-map check (p2)
  // an input that differs from the baseline only in channel 3 changes p2's contribution alone
  const only3 = new Float32Array(HW * D);
  only3[3] = 2;
  const c = linearContributions(d)(only3, HW);
  assert.deepEqual(Array.from(c), [0, 0, 2]); // mean(3 * 2, 0, 0) = 2
  assert.ok(checkSensitivity(only3, baseline, HW, d).pass);
  // a contribution that clips negative products (ReLU per position) misses p1's change: -1.5 * (2 + 4) / 3 = -3
  const linear = linearContributions(d);
  const clipped: ContributionFn = (f, n) => {
    const out = new Float64Array(3);
    for (let i = 0; i < 3; i++) for (let p = 0; p < n; p++) {
      let s = 0;
      for (let q = 0; q < D; q++) s += f[p * D + q] * d.prototypes[i * D + q];
      out[i] += Math.max(0, s) / n;
    }
    return out;
  };
  assert.equal(linear(x, HW)[1], -3);
  const bad = checkSensitivity(x, baseline, HW, d, { contribute: clipped });
  assert.ok(!bad.pass);
  assert.equal(bad.worstError, 3);
  // a constant offset breaks the zero-map rule
  const offset: ContributionFn = (f, n) => linear(f, n).map((v) => v + 0.5);
  const bad2 = checkSensitivity(x, baseline, HW, d, { contribute: offset });
  assert.ok(!bad2.pass && /zero map/.test(bad2.detail), bad2.detail);
});

test('symmetry: identical prototypes get identical contributions; a biased function fails', () => {
  const { d, x, HW, D } = planted(3);
  const twin = { ...d, prototypes: Float32Array.from(d.prototypes) };
  twin.prototypes.copyWithin(3 * D, 1 * D, 2 * D); // prototype 3 := prototype 1
  const ok = checkSymmetry(x, HW, twin);
  assert.ok(ok.pass);
  assert.equal(ok.checks, 1);
  assert.equal(ok.worstError, 0);
  const none = checkSymmetry(x, HW, d);
  assert.ok(none.pass);
  assert.equal(none.checks, 0);
  const linear = linearContributions(twin);
  const ranked: ContributionFn = (f, n) => linear(f, n).map((v, i) => v * (1 + 0.01 * i));
  const bad = checkSymmetry(x, HW, twin, { contribute: ranked });
  assert.ok(!bad.pass);
  assert.match(bad.detail, /1~3/);
});

test('shapes and options are checked', () => {
  const d: Decomposition = { prototypes: new Float32Array(6), k: 2, dim: 3, bias: 0 };
  assert.throws(() => checkCompleteness(new Float32Array(5), 2, d, 0), /5 values, positions x D = 2 x 3 = 6 expected/);
  assert.throws(() => checkCompleteness(new Float32Array(6), 2, { ...d, k: 3 }, 0), /prototypes have 6 values/);
  assert.throws(() => checkCompleteness(new Float32Array(6), 2, d, 0, { tolerance: -1 }), /tolerance/);
  assert.throws(() => checkCompleteness(new Float32Array(6), 2, d, 0, { contribute: () => new Float64Array(1) }), /returned 1 values, k = 2/);
});
