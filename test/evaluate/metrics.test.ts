import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PartLocation } from '../../src/data/types.ts';
import type { EvaluationBatch } from '../../src/evaluate/context/metric.ts';
import { partsMetric } from '../../src/evaluate/metrics/parts.ts';
import { blobImage, contextOf, SIZE, tinyModel } from './tiny-model.ts';

const part = (partId: number, x: number, y: number, visible = true): PartLocation => ({ partId, x, y, visible });

/**
 * Class 0 images: a blob in channel 0 on cell (1, 2) (pixels rows 8..15, cols 16..23) and in channel 1
 * on cell (3, 0) (rows 24..31, cols 0..7). Class 0's prototypes read channels 0 and 1, so prototype 0
 * points at the first blob and prototype 1 at the second; with a 32-pixel input the region half size
 * is round(36 * 32 / 224) = 5. Class 1's image: channel 1 blob on cell (0, 0), channel 2 on (2, 3).
 */
function dataset(): EvaluationBatch[] {
  const c0 = blobImage([[0, 1, 2], [1, 3, 0]]);
  const c1 = blobImage([[1, 0, 0], [2, 2, 3]]);
  const per = 3 * SIZE * SIZE;
  const tensor = new Float32Array(4 * per);
  [c0, c0, c0, c1].forEach((img, i) => tensor.set(img, i * per));
  const parts: PartLocation[][] = [
    [part(1, 20, 12), part(2, 4, 28), part(3, 20, 12, false)], // head at blob 0, back at blob 1
    [part(1, 19, 11), part(2, 28, 4)], // back far from both blobs
    [part(1, 20, 12), part(2, 3, 29)],
    [part(4, 4, 4), part(5, 28, 20)], // class 1: part 4 at its first blob, part 5 at its second
  ];
  return [
    { tensor: tensor.slice(0, 2 * per), labels: [0, 0], indices: [0, 1], ids: ['a', 'b'], parts: parts.slice(0, 2) },
    { tensor: tensor.slice(2 * per), labels: [0, 1], indices: [2, 3], ids: ['c', 'd'], parts: parts.slice(2) },
  ];
}

test('parts metric over a real ONNX model: consistency and stability as worked out by hand', async () => {
  const model = await tinyModel();
  try {
    const ctx = contextOf(model, dataset(), 99);
    const report = await partsMetric().run(ctx);
    assert.equal(report.images, 4);
    assert.equal(report.seed, 99);
    assert.equal(report.options.halfSize, 5);
    assert.equal(report.variant, 'strict');
    const [p00, p01, p10, p11] = report.consistency.perPrototype;
    // class 0, prototype 0: head (part 1) inside its region on all 3 images
    assert.equal(p00.rates[0], 1);
    assert.ok(p00.consistent);
    // class 0, prototype 1: back (part 2) hit on images a and c, visible on 3 -> 2/3 < 0.8
    assert.equal(p01.rates[1], 2 / 3);
    assert.ok(!p01.consistent);
    // class 1: each prototype hits its own part on the one image
    assert.deepEqual([p10.bestPart, p10.bestRate, p11.bestPart, p11.bestRate], [4, 1, 5, 1]);
    assert.equal(report.consistency.score, 75);
    // the reference noise (N(0, 0.2) clipped to 0.25) moves 8 x 8 pooled maps by about 0.025: no change
    assert.equal(report.stability!.score, 100);
    assert.equal(model.calls, 4); // 2 batches x (clean + perturbed)

    // noise far larger than the blobs scrambles the regions: stability falls
    const loud = await partsMetric({ noiseStd: 100, noiseEps: 1000 }).run(contextOf(model, dataset(), 99));
    assert.ok(loud.stability!.score < 60, `stability under heavy noise ${loud.stability!.score}`);
    assert.equal(loud.consistency.score, 75, 'consistency uses the clean pass only');
    const again = await partsMetric({ noiseStd: 100, noiseEps: 1000 }).run(contextOf(model, dataset(), 99));
    assert.deepEqual(again.stability, loud.stability, 'same seed, same result');

    const clean = await partsMetric({ stability: false, partThreshold: 0.6 }).run(contextOf(model, dataset(), 1));
    assert.equal(clean.stability, undefined);
    assert.equal(clean.consistency.score, 100); // 2/3 >= 0.6
  } finally {
    await model.release();
  }
});

test('parts metric: an image without parts is an InputError naming it', async () => {
  const model = await tinyModel();
  try {
    const [b] = dataset();
    const noParts = { ...b, parts: [b.parts![0], undefined] };
    await assert.rejects(partsMetric().run(contextOf(model, [noParts], 1)), /image b: no part annotations/);
  } finally {
    await model.release();
  }
});
