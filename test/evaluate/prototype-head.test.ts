import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrototypeHead } from '../../src/evaluate/context/prototype-head.ts';
import { prototypeSets, randomConvexSplit } from '../../src/evaluate/context/prototype-sets.ts';
import { Rng } from '../../src/util/random.ts';

function randn(n: number, rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

test('prototype head graph: contributions, logits and per-set maps equal float64 sums done by hand', async () => {
  const rng = new Rng(11);
  const [C, k, D, HW, n] = [5, 3, 7, 6, 4];
  const refined = randn(C * k * D, rng);
  const other = randn(C * k * D, rng);
  const residual = randn(C * D, rng, 0.3);
  const bias = randn(C, rng);
  const features = Float32Array.from({ length: n * HW * D }, () => Math.max(0, rng.normal()));
  const classes = [4, 0, 2, 2];
  const head = await PrototypeHead.create({
    numClasses: C, k, channels: D, positions: HW,
    sets: [{ name: 'refined', prototypes: refined }, { name: 'random', prototypes: other }],
    residualTerm: residual, bias,
  });
  try {
    const dec = await head.decompose(features, n);
    const maps = await head.maps(features, n, classes);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const x = (p: number, d: number) => features[(i * HW + p) * D + d];
      for (let c = 0; c < C; c++) {
        let logit = bias[c];
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let p = 0; p < HW; p++) for (let d = 0; d < D; d++) s += x(p, d) * refined[(c * k + j) * D + d];
          const contribution = s / HW;
          worst = Math.max(worst, Math.abs(contribution - dec.contributions[(i * C + c) * k + j]));
          logit += contribution;
        }
        let r = 0;
        for (let p = 0; p < HW; p++) for (let d = 0; d < D; d++) r += x(p, d) * residual[c * D + d];
        logit += r / HW;
        worst = Math.max(worst, Math.abs(r / HW - dec.residual[i * C + c]), Math.abs(logit - dec.logits[i * C + c]));
      }
      for (const [name, P] of [['refined', refined], ['random', other]] as const) {
        const m = maps.get(name)!;
        assert.equal(m.length, n * k * HW);
        for (let j = 0; j < k; j++) {
          for (let p = 0; p < HW; p++) {
            let s = 0;
            for (let d = 0; d < D; d++) s += x(p, d) * P[(classes[i] * k + j) * D + d];
            worst = Math.max(worst, Math.abs(s - m[(i * k + j) * HW + p]));
          }
        }
      }
    }
    assert.ok(worst < 1e-4, `largest difference from the float64 sums ${worst}`);
    await assert.rejects(head.maps(features, n, [0, 1, 2, 5]), /class 5 of image 3 outside 0..4/);
    await assert.rejects(head.decompose(features.subarray(1), n), /features have/);
  } finally {
    await head.release();
  }
});

test('random convex split: parts are non-negative fractions of each head value and sum to it', () => {
  const rng = new Rng(3);
  const [C, k, D] = [4, 3, 500];
  const W = randn(C * D, rng);
  const split = randomConvexSplit(W, C, k, D, 42);
  let worstSum = 0;
  const fractions: number[] = [];
  for (let c = 0; c < C; c++) {
    for (let d = 0; d < D; d++) {
      const v = W[c * D + d];
      let s = 0;
      for (let i = 0; i < k; i++) {
        const r = split[(c * k + i) * D + d];
        s += r;
        const w = r / v;
        assert.ok(w >= 0 && w <= 1 + 1e-6, `weight ${w}`);
        if (i === 0) fractions.push(w);
      }
      worstSum = Math.max(worstSum, Math.abs(s - v) / Math.max(1, Math.abs(v)));
    }
  }
  assert.ok(worstSum < 1e-6, `relative sum error ${worstSum}`);
  // Dirichlet(1, 1, 1): each weight is Beta(1, 2), mean 1/3, variance 1/18
  const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
  const variance = fractions.reduce((a, b) => a + (b - mean) ** 2, 0) / fractions.length;
  assert.ok(Math.abs(mean - 1 / 3) < 0.02, `mean weight ${mean}`);
  assert.ok(Math.abs(variance - 1 / 18) < 0.01, `weight variance ${variance}`);
  assert.deepEqual(randomConvexSplit(W, C, k, D, 42), split, 'same seed, same split');
  assert.notDeepEqual(randomConvexSplit(W, C, k, D, 43), split);
  // a class's split does not depend on the others
  assert.deepEqual(randomConvexSplit(W.subarray(0, D), 1, k, D, 42), split.subarray(0, k * D));
  assert.throws(() => randomConvexSplit(W, C, k, D + 1, 1), /C x D/);
});

test('prototype sets: refined and initial are the network tensors; unknown or repeated names are refused', () => {
  const net = { prototypes: new Float32Array([1, 2]), initialPrototypes: new Float32Array([3, 4]), headWeight: new Float32Array([3, 6]), numClasses: 1, k: 1, channels: 2 };
  const [r, i, x] = prototypeSets(net, ['refined', 'initial', 'random'], 0);
  assert.equal(r.prototypes, net.prototypes);
  assert.equal(i.prototypes, net.initialPrototypes);
  assert.deepEqual([...x.prototypes], [3, 6], 'k = 1: the split is the row itself');
  assert.throws(() => prototypeSets(net, ['refined', 'refined'], 0), /listed twice/);
  assert.throws(() => prototypeSets(net, ['best' as 'refined'], 0), /expected one of refined, initial, random/);
});
