import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageNoise, perturbBatch } from '../../src/evaluate/protocols/noise.ts';
import { InputError } from '../../src/util/errors.ts';

test('noise: unclipped N(0, 0.2) by default (EvalProtoPNet): the sample standard deviation is 0.2 and values beyond 0.25 occur', () => {
  const n = 3 * 224 * 224;
  const z = imageNoise(0, n, { seed: 7 });
  let sq = 0;
  let beyond = 0;
  for (const v of z) {
    sq += v * v;
    if (Math.abs(v) > 0.25) beyond++;
  }
  assert.ok(Math.abs(Math.sqrt(sq / n) - 0.2) < 0.002, `std ${Math.sqrt(sq / n)}`);
  // P(|N(0, 0.2)| > 0.25) = 2 (1 - Phi(1.25)) = 0.2113
  assert.ok(Math.abs(beyond / n - 0.2113) < 0.006, `share beyond 0.25: ${beyond / n}`);
  // The same draws as the clipped variant: clipping changes only the values beyond eps.
  const clippedZ = imageNoise(0, n, { seed: 7, eps: 0.25 });
  for (let i = 0; i < n; i += 997) assert.equal(clippedZ[i], Math.max(-0.25, Math.min(0.25, z[i])));
});

test('noise: clipped N(0, 0.2) (ProtoPNeXt, eps 0.25) with the clipped share of a normal distribution', () => {
  const n = 3 * 224 * 224;
  const z = imageNoise(0, n, { seed: 7, eps: 0.25 });
  let clipped = 0;
  let sum = 0;
  let pos = 0;
  for (const v of z) {
    assert.ok(Math.abs(v) <= 0.25);
    if (Math.abs(v) === 0.25) clipped++;
    sum += v;
    if (v > 0) pos++;
  }
  // P(|N(0, 0.2)| > 0.25) = 2 (1 - Phi(1.25)) = 2 (1 - 0.894350) = 0.2113
  assert.ok(Math.abs(clipped / n - 0.2113) < 0.006, `clipped share ${clipped / n}`);
  assert.ok(Math.abs(sum / n) < 0.003, `mean ${sum / n}`);
  assert.ok(Math.abs(pos / n - 0.5) < 0.006);
  // std and eps are options; eps 0 gives no noise
  assert.ok(imageNoise(0, 100, { seed: 7, eps: 0 }).every((v) => v === 0));
  assert.ok(imageNoise(0, 1000, { seed: 7, std: 1, eps: 10 }).some((v) => Math.abs(v) > 1.5));
});

test('noise: seeded per image, independent of batching', () => {
  const per = 2 * 4 * 4;
  const a = Float32Array.from({ length: per }, (_, i) => i * 0.1);
  const b = Float32Array.from({ length: per }, (_, i) => -i * 0.05);
  const both = new Float32Array(2 * per);
  both.set(a, 0);
  both.set(b, per);
  const together = perturbBatch(both, per, [10, 11], { seed: 3 });
  const alone = perturbBatch(b, per, [11], { seed: 3 });
  assert.deepEqual(together.subarray(per), alone);
  // the noise added is the image's noise, in float32
  const z = imageNoise(10, per, { seed: 3 });
  for (let i = 0; i < per; i++) assert.equal(together[i], Math.fround(a[i] + z[i]));
  assert.notDeepEqual(imageNoise(10, per, { seed: 3 }), imageNoise(11, per, { seed: 3 }));
  assert.notDeepEqual(imageNoise(10, per, { seed: 3 }), imageNoise(10, per, { seed: 4 }));
  assert.deepEqual(imageNoise(10, per, { seed: 3 }), z);
  // the input is not modified
  assert.equal(both[1], Math.fround(0.1));
});

test('noise: bad options and shapes are InputErrors naming what is wrong', () => {
  assert.throws(() => imageNoise(0, 4, { seed: 1.5 }), (e: unknown) => e instanceof InputError && /seed/.test(e.message));
  assert.throws(() => imageNoise(0, 4, { seed: 1, std: -1 }), /std/);
  assert.throws(() => imageNoise(-1, 4, { seed: 1 }), /image index/);
  assert.throws(() => perturbBatch(new Float32Array(10), 4, [0, 1], { seed: 1 }), /10 values, 2 images x 4 = 8 expected/);
});
