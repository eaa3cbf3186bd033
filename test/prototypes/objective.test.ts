import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeatureProducts } from '../../src/prototypes/feature-products.ts';
import { centreMaps, groupEnergy, HeatmapObjective, mapFidelity, normalizeMaps, NORM_GUARD, type Groups } from '../../src/prototypes/heatmap-objective.ts';
import { objectiveAndLogitGradient, objectiveAndWeightGradient, objectiveAt, softmaxColumns, type SplitProblem } from '../../src/prototypes/residual-split.ts';
import { decomposeClass } from '../../src/prototypes/decompose.ts';
import { Rng } from '../../src/util/random.ts';
import { plantedClass } from './planted.ts';

test('Norm: each image map divided by its L2 norm; zero maps stay zero (hand-computed)', () => {
  // k = 1, two images of two positions: (3, 4) and (0, 0).
  const close = (a: ArrayLike<number>, b: number[]) => b.forEach((x, i) => assert.ok(Math.abs(a[i] - x) < 1e-15, `${Array.from(a)} vs ${b}`));
  close(normalizeMaps([3, 4, 0, 0], 1, { count: 2, size: 2 }), [0.6, 0.8, 0, 0]);
  // class-l2: one group over both images.
  close(normalizeMaps([3, 0, 0, 4], 1, { count: 1, size: 4 }), [0.6, 0, 0, 0.8]);
});

test('part fidelity: mean over images of the cosine; both-zero counts 1, one-zero counts 0 (hand-computed)', () => {
  const g: Groups = { count: 2, size: 2 };
  // Image 1: cos((3,4), (4,3)) = 24/25; image 2: A = (1,0), B = 0 -> 0.
  assert.ok(Math.abs(mapFidelity([3, 4, 1, 0], [4, 3, 0, 0], 1, g)[0] - 0.48) < 1e-15);
  // Both zero in image 2 -> 1; opposite in image 1 -> -1.
  assert.ok(Math.abs(mapFidelity([1, 2, 0, 0], [-2, -4, 0, 0], 1, g)[0] - 0) < 1e-15);
  // Two prototypes interleaved (N x k layout): prototype 1 identical maps -> 1.
  const f = mapFidelity([1, 5, 2, 6, 3, 7, 4, 8], [9, 5, 9, 6, 9, 7, 9, 8], 2, g);
  assert.ok(Math.abs(f[1] - 1) < 1e-15);
});

/** A small split problem with random data, and an independent float64 reference of its objective. */
async function smallProblem(seed: number, prototypeObjective: boolean) {
  const rng = new Rng(seed);
  const n = 3;
  const hw = 5;
  const D = 7;
  const k = 3;
  const N = n * hw;
  const F = Float32Array.from({ length: N * D }, () => Math.max(0, rng.normal() + 0.3));
  const P = Float32Array.from({ length: k * D }, () => rng.uniform(0, 1));
  const R = Float64Array.from({ length: D }, () => rng.normal());
  const base = new Float64Array(k * D);
  if (prototypeObjective) for (let x = 0; x < k * D; x++) base[x] = 0.7 * P[x];
  const groups: Groups = { count: n, size: hw };
  const products = await FeatureProducts.create(F, N, D);
  const targets = normalizeMaps(await products.maps(P, k), k, groups);
  const energy = groupEnergy(F, D, groups);
  const sigma = 2.5;
  const objective = new HeatmapObjective(targets, k, groups, energy, sigma);
  const problem: SplitProblem = { k, D, base, R, products, objective };
  /** Reference: maps in float64 straight from the definition, || A - M / sqrt(||M||^2 + eps) ||^2 literally. */
  const reference = (W: ArrayLike<number>): number => {
    let L = 0;
    for (let i = 0; i < k; i++) {
      const q = Array.from({ length: D }, (_, c) => base[i * D + c] + W[i * D + c] * R[c]);
      for (let g = 0; g < n; g++) {
        const m = Array.from({ length: hw }, (_, h) => q.reduce((s, qc, c) => s + F[(g * hw + h) * D + c] * qc, 0));
        const a = Array.from({ length: hw }, (_, h) => targets[(g * hw + h) * k + i]);
        const eps = (NORM_GUARD * sigma) ** 2 * energy[g];
        const den = Math.sqrt(m.reduce((s, x) => s + x * x, 0) + eps);
        for (let h = 0; h < hw; h++) L += (a[h] - m[h] / den) ** 2;
      }
    }
    return L;
  };
  return { problem, reference, k, D, rng };
}

test('objective: engine evaluation equals the literal float64 formula', async () => {
  for (const proto of [false, true]) {
    const { problem, reference, k, D, rng } = await smallProblem(1, proto);
    const W = softmaxColumns(Float64Array.from({ length: k * D }, () => rng.normal()), k, D);
    const got = await objectiveAt(problem, W);
    const want = reference(W);
    assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `${got} vs ${want}`);
  }
});

test('objective: analytic gradient in W matches central finite differences of the reference', async () => {
  for (const proto of [false, true]) {
    const { problem, reference, k, D, rng } = await smallProblem(2, proto);
    const W = softmaxColumns(Float64Array.from({ length: k * D }, () => rng.normal()), k, D);
    const dW = new Float64Array(k * D);
    await objectiveAndWeightGradient(problem, W, dW);
    const h = 1e-6;
    let worst = 0;
    let scale = 0;
    for (let x = 0; x < k * D; x++) {
      const wp = Float64Array.from(W);
      const wm = Float64Array.from(W);
      wp[x] += h;
      wm[x] -= h;
      const fd = (reference(wp) - reference(wm)) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - dW[x]));
      scale = Math.max(scale, Math.abs(fd));
    }
    assert.ok(scale > 1e-3, 'the gradient is not trivially zero');
    assert.ok(worst <= 1e-4 * scale, `max |analytic - FD| = ${worst} (gradient scale ${scale})`);
  }
});

test('objective: analytic gradient in the softmax logits matches finite differences', async () => {
  const { problem, reference, k, D, rng } = await smallProblem(3, true);
  const Z = Float64Array.from({ length: k * D }, () => rng.normal());
  const dZ = new Float64Array(k * D);
  await objectiveAndLogitGradient(problem, Z, dZ);
  const h = 1e-6;
  let worst = 0;
  let scale = 0;
  for (let x = 0; x < k * D; x++) {
    const zp = Float64Array.from(Z);
    const zm = Float64Array.from(Z);
    zp[x] += h;
    zm[x] -= h;
    const fd = (reference(softmaxColumns(zp, k, D)) - reference(softmaxColumns(zm, k, D))) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - dZ[x]));
    scale = Math.max(scale, Math.abs(fd));
  }
  assert.ok(worst <= 1e-4 * scale, `max |analytic - FD| = ${worst} (gradient scale ${scale})`);
});

test('heatmap gradient dL/dM matches finite differences, including near-zero maps', () => {
  const rng = new Rng(4);
  const groups: Groups = { count: 2, size: 4 };
  const k = 2;
  const targets = normalizeMaps(Float64Array.from({ length: 16 }, () => rng.uniform(0, 1)), k, groups);
  const obj = new HeatmapObjective(targets, k, groups, Float64Array.from([1, 1]), 1);
  const M = Float64Array.from({ length: 16 }, () => rng.normal());
  for (let r = 4; r < 8; r++) M[r * k + 1] = 1e-5 * rng.normal(); // image 2, prototype 2: tiny map
  assertMapGradient(obj, M);
});

/** dL/dM of `obj` at M against central finite differences (smaller steps at tiny entries). */
function assertMapGradient(obj: HeatmapObjective, M: Float64Array): void {
  const grad = new Float32Array(M.length);
  obj.valueAndGradient(M, grad);
  for (let x = 0; x < M.length; x++) {
    const h = Math.abs(M[x]) < 1e-3 ? 1e-9 : 1e-6;
    const mp = Float64Array.from(M);
    const mm = Float64Array.from(M);
    mp[x] += h;
    mm[x] -= h;
    const fd = (obj.value(mp) - obj.value(mm)) / (2 * h);
    assert.ok(Math.abs(fd - grad[x]) <= 1e-4 * Math.max(1, Math.abs(fd)), `entry ${x}: ${grad[x]} vs ${fd}`);
  }
}

test('on the final prototypes the objective is 2n·sum_i(1 - part fidelity_i): two routes to the same number', async () => {
  const cls = plantedClass({ n: 10, side: 5, d: 48, k: 3, seed: 6, noise: 0.05, signed: 1, background: 2 });
  // Without the peak term, for both per-image norms (fidelity is measured in the objective's norm).
  for (const norm of ['image-l2', 'image-centred'] as const) {
    const r = await decomposeClass(cls, { k: 3, allocator: 'uniform', norm, peakWeight: 0 });
    const fromFidelity = 2 * cls.n * r.diagnostics.partFidelity.reduce((s, f) => s + (1 - f), 0);
    const obj = r.diagnostics.objectiveChosen;
    assert.ok(Math.abs(obj - fromFidelity) <= 1e-4 * Math.max(1, obj), `${norm}: objective ${obj} vs 2n·sum(1 - fidelity) ${fromFidelity}`);
  }
});

test('peak term: value is the literal KL of the sharpened maps, gradient matches finite differences', () => {
  const rng = new Rng(5);
  const groups: Groups = { count: 2, size: 4 };
  const k = 2;
  const targets = normalizeMaps(Float64Array.from({ length: 16 }, () => rng.uniform(0, 1)), k, groups);
  const energy = Float64Array.from([1, 1]);
  const plain = new HeatmapObjective(targets, k, groups, energy, 1);
  const peak = { weight: 3, temperature: 7 };
  const obj = new HeatmapObjective(targets, k, groups, energy, 1, peak);
  const M = Float64Array.from({ length: 16 }, () => rng.normal());
  // Reference: KL(softmax(tau A) || softmax(tau M / ||M||)) per (image, prototype), written out.
  let kl = 0;
  for (let g = 0; g < 2; g++) {
    for (let i = 0; i < k; i++) {
      const rows = [0, 1, 2, 3].map((h) => (g * 4 + h) * k + i);
      const norm = Math.sqrt(rows.reduce((s, x) => s + M[x] * M[x], 0) + (NORM_GUARD * NORM_GUARD));
      const softmax = (v: number[]) => {
        const e = v.map((x) => Math.exp(x));
        const s = e.reduce((a, b) => a + b, 0);
        return e.map((x) => x / s);
      };
      const p = softmax(rows.map((x) => peak.temperature * targets[x]));
      const q = softmax(rows.map((x) => (peak.temperature * M[x]) / norm));
      kl += p.reduce((s, px, h) => s + px * Math.log(px / q[h]), 0);
    }
  }
  const got = obj.value(M) - plain.value(M);
  assert.ok(Math.abs(got - peak.weight * kl) <= 1e-9 * Math.abs(peak.weight * kl), `${got} vs ${peak.weight * kl}`);
  // The KL of a map against its own target is zero: the candidate equal to A adds nothing.
  assert.ok(Math.abs(obj.value(targets) - plain.value(targets)) < 1e-9);
  assertMapGradient(obj, M);
  // Centred maps: the gradient through the centring too.
  const centredTargets = normalizeMaps(centreMaps(targets, k, groups), k, groups);
  assertMapGradient(new HeatmapObjective(centredTargets, k, groups, energy, 1, peak, true), M);
});

test('restricted objectives: the held-out and the fitted groups add up to the whole objective, value and gradient', () => {
  const rng = new Rng(9);
  const groups: Groups = { count: 5, size: 4 };
  const k = 2;
  const targets = normalizeMaps(centreMaps(Float64Array.from({ length: 40 }, () => rng.uniform(0, 1)), k, groups), k, groups);
  const whole = new HeatmapObjective(targets, k, groups, Float64Array.from({ length: 5 }, () => 1), 1, { weight: 2, temperature: 9 }, true);
  const held = Uint8Array.from([0, 1, 0, 0, 1]);
  const a = whole.restrict(held);
  const b = whole.restrict(held.map((x) => 1 - x));
  const M = Float64Array.from({ length: 40 }, () => rng.normal());
  assert.ok(Math.abs(a.value(M) + b.value(M) - whole.value(M)) <= 1e-9 * Math.abs(whole.value(M)));
  const [ga, gb, gw] = [new Float32Array(40), new Float32Array(40), new Float32Array(40)];
  a.valueAndGradient(M, ga);
  b.valueAndGradient(M, gb);
  whole.valueAndGradient(M, gw);
  for (let x = 0; x < 40; x++) {
    assert.ok(Math.abs(ga[x] + gb[x] - gw[x]) <= 1e-5 * Math.max(1, Math.abs(gw[x])), `entry ${x}`);
    const g = Math.floor(x / (4 * k));
    if (!held[g]) assert.equal(ga[x], 0, 'a group left out gets no gradient');
  }
});
