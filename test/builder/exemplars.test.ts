// Exemplar selection and scoring on hand-made numbers, and the usable-class check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUsableClass } from '../../src/builder/usable.ts';
import { ExemplarScorer, selectExemplars } from '../../src/builder/exemplars.ts';
import { Rng } from '../../src/util/random.ts';

test('selection: best first, one entry per image, ties in image order, m larger than n', () => {
  // 4 images x 2 prototypes, scores[j * 2 + i]
  const scores = Float32Array.from([
    1, 5, //
    3, 5, //
    3, -1, //
    2, 0,
  ]);
  const s = selectExemplars(scores, 4, 2, 3);
  assert.deepEqual(s[0], [
    { image: 1, score: 3 },
    { image: 2, score: 3 },
    { image: 3, score: 2 },
  ]);
  assert.deepEqual(s[1].map((e) => e.image), [0, 1, 3]);
  const all = selectExemplars(scores, 4, 2, 10);
  assert.deepEqual(all[1].map((e) => e.image), [0, 1, 3, 2]);
  assert.throws(() => selectExemplars(scores, 3, 2, 1), /expected n x k = 3 x 2/);
});

test('scorer: maps are x . p per position and scores their maxima (checked in float64)', async () => {
  const rng = new Rng(7);
  const [n, hw, d, k] = [3, 5, 4, 2];
  const F = Float32Array.from({ length: n * hw * d }, () => rng.normal());
  const P = Float32Array.from({ length: k * d }, () => rng.normal());
  const scorer = await ExemplarScorer.create();
  try {
    const { maps, scores } = await scorer.score(F, n, hw, d, P, k);
    assert.equal(maps.length, n * hw * k);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < k; i++) {
        let best = -Infinity;
        for (let p = 0; p < hw; p++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += F[(j * hw + p) * d + c] * P[i * d + c];
          assert.ok(Math.abs(maps[(j * hw + p) * k + i] - s) < 1e-5, `map ${j} ${p} ${i}`);
          best = Math.max(best, s);
        }
        assert.ok(Math.abs(scores[j * k + i] - best) < 1e-5, `score ${j} ${i}`);
      }
    }
    await assert.rejects(scorer.score(F, n, hw, d, P.subarray(1), k), /prototypes have 7 values, expected 2 x 4/);
  } finally {
    await scorer.close();
  }
});

test('usable class: at least k images and k non-zero positions, else an error naming the class', () => {
  const [hw, d, k] = [4, 3, 3];
  const F = new Float32Array(3 * hw * d);
  assert.throws(() => checkUsableClass(F, 0, hw, d, k, "class 5 ('owl')", 2), /class 5 \('owl'\): no usable training images \(2 of its images could not be decoded\)/);
  assert.throws(() => checkUsableClass(F, 2, hw, d, k, "class 5 ('owl')"), /class 5 \('owl'\): 2 usable training images, fewer than k = 3/);
  assert.throws(() => checkUsableClass(F, 3, hw, d, k, "class 5 ('owl')"), /class 5 \('owl'\): only 0 of its 12 feature positions .* have a non-zero feature vector, fewer than k = 3/);
  F[1 * d + 2] = 1;
  F[7 * d] = 0.5;
  assert.throws(() => checkUsableClass(F, 3, hw, d, k, 'class 1'), /only 2 of its 12/);
  F[11 * d + 1] = 2;
  checkUsableClass(F, 3, hw, d, k, 'class 1');
});
