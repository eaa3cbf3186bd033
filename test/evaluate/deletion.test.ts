import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  areaUnderCurve,
  causalCurve,
  compareWithRandom,
  defaultPixelsPerStep,
  GaussianBlur,
  perturbationBatches,
  randomOrder,
  saliencyOrder,
  stepCount,
  substrateImage,
  type ScoreFn,
} from '../../src/evaluate/protocols/deletion-curves.ts';
import { buildModel, int64Tensor, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { InputError } from '../../src/util/errors.ts';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

test('area under curve: RISE normalisation, worked by hand', () => {
  // 3 steps, 4 points: (1 + 0.5 + 0.25 + 0 - (1 + 0) / 2) / 3 = 1.25 / 3
  assert.equal(areaUnderCurve([1, 0.5, 0.25, 0]), 1.25 / 3);
  assert.equal(areaUnderCurve([0, 1]), 0.5);
  assert.equal(areaUnderCurve([0.25, 0.25, 0.25]), 0.25);
  assert.throws(() => areaUnderCurve([1]), InputError);
});

test('steps: 2% of the pixels per step by default, ceil(pixels / per step)', () => {
  assert.equal(defaultPixelsPerStep(224, 224), 1004); // round(0.02 * 50176 = 1003.52)
  assert.equal(stepCount(224 * 224, 1004), 50);
  assert.equal(stepCount(224 * 224, 224), 224); // RISE's setting
  assert.equal(defaultPixelsPerStep(4, 4), 1);
});

test('orders: decreasing saliency with ties by index; seeded random permutations', () => {
  assert.deepEqual(Array.from(saliencyOrder([0.5, 1, 1, 0.2, 1, -3, 0.2])), [1, 2, 4, 0, 3, 6, 5]);
  const flat = saliencyOrder(new Float32Array(5000));
  assert.ok(flat.every((v, i) => v === i), 'all-equal saliency keeps index order');
  assert.throws(() => saliencyOrder([1, NaN]), /value 1 is NaN/);
  const r = randomOrder(1000, 5);
  assert.deepEqual(Array.from(r).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(randomOrder(1000, 5), r);
  assert.notDeepEqual(randomOrder(1000, 6), r);
});

test('perturbation batches: image i has exactly min(i * perStep, H * W) pixels moved, all channels, both layouts', () => {
  const C = 2;
  const HW = 16;
  const order = Array.from({ length: HW }, (_, i) => HW - 1 - i);
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const at = (p: number, c: number) => (layout === 'NCHW' ? c * HW + p : p * C + c);
    const start = Float32Array.from({ length: C * HW }, (_, i) => 100 + i);
    const finish = Float32Array.from({ length: C * HW }, (_, i) => -i);
    const batches = [...perturbationBatches(start, finish, { channels: C, height: 4, width: 4, layout }, order, 3, 3)];
    assert.deepEqual(batches.map((b) => [b.firstStep, b.count]), [[0, 3], [3, 3], [6, 1]]);
    let step = 0;
    for (const b of batches) {
      for (let k = 0; k < b.count; k++, step++) {
        const img = b.images.subarray(k * C * HW, (k + 1) * C * HW);
        const moved = new Set(order.slice(0, Math.min(step * 3, HW)));
        for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) {
          assert.equal(img[at(p, c)], moved.has(p) ? finish[at(p, c)] : start[at(p, c)], `${layout} step ${step} pixel ${p} channel ${c}`);
        }
      }
    }
    assert.equal(step, 7);
  }
  assert.throws(() => [...perturbationBatches(new Float32Array(4), new Float32Array(4), { channels: 1, height: 2, width: 2 }, [0, 1, 1, 3], 1, 1)], /not a permutation/);
});

test('substrates: zero, per-channel mean, and a Gaussian blur run by onnxruntime (zero-padded)', async () => {
  const img = Float32Array.from([1, 2, 3, 4, 0, 0, 0, 8]); // NCHW, 2 channels of 2 x 2
  assert.deepEqual(Array.from(await substrateImage(img, { channels: 2, height: 2, width: 2 }, 'mean')), [2.5, 2.5, 2.5, 2.5, 2, 2, 2, 2]);
  const nhwc = Float32Array.from([1, 0, 2, 0, 3, 0, 4, 8]);
  assert.deepEqual(Array.from(await substrateImage(nhwc, { channels: 2, height: 2, width: 2, layout: 'NHWC' }, 'mean')), [2.5, 2, 2.5, 2, 2.5, 2, 2.5, 2]);
  assert.deepEqual(Array.from(await substrateImage(img, { channels: 2, height: 2, width: 2 }, 'zero')), new Array(8).fill(0));

  // sigma 1, 5 taps: weights exp(-d^2 / 2) for d = 0, 1, 2 are 1, 0.6065307, 0.1353353, sum 2.4837319
  const g = [0.1353353 / 2.4837319, 0.6065307 / 2.4837319, 1 / 2.4837319];
  const blur = await GaussianBlur.create(1, 1, 5);
  try {
    const delta = new Float32Array(81);
    delta[40] = 1;
    const out = await blur.blur(delta, { channels: 1, height: 9, width: 9 });
    assert.ok(Math.abs(out[40] - g[2] * g[2]) < 1e-6);
    assert.ok(Math.abs(out[41] - g[2] * g[1]) < 1e-6);
    assert.ok(Math.abs(out[40 + 9 + 1] - g[1] * g[1]) < 1e-6);
    assert.ok(Math.abs(out[40 + 18 + 2] - g[0] * g[0]) < 1e-6);
    assert.equal(out[40 + 27], 0);
    const flat = await blur.blur(new Float32Array(49).fill(2), { channels: 1, height: 7, width: 7 });
    assert.ok(Math.abs(flat[24] - 2) < 1e-6, 'interior of a constant image is unchanged');
    const edge = g[2] + g[1] + g[0]; // taps that stay inside at a corner
    assert.ok(Math.abs(flat[0] - 2 * edge * edge) < 1e-6, `corner ${flat[0]} vs ${2 * edge * edge}`);
  } finally {
    await blur.release();
  }
});

/** A real ONNX model: p = sigmoid(0.25 * sum over channels of the pixels in a 4 x 4 mask - 6). */
async function maskModel(): Promise<{ score: ScoreFn; mask: Float32Array; release: () => Promise<void> }> {
  const mask = new Float32Array(16 * 16);
  for (let y = 4; y < 8; y++) for (let x = 6; x < 10; x++) mask[y * 16 + x] = 1;
  const model = buildModel({
    nodes: [
      node('Mul', ['x', 'mask'], ['masked']),
      node('ReduceSum', ['masked', 'axes'], ['total'], { keepdims: 0 }),
      node('Mul', ['total', 'gain'], ['scaled']),
      node('Add', ['scaled', 'offset'], ['logit']),
      node('Sigmoid', ['logit'], ['p']),
    ],
    inputs: [valueInfo('x', ['n', 3, 16, 16])],
    outputs: [valueInfo('p', ['n'])],
    initializers: [tensor('mask', [1, 1, 16, 16], mask), int64Tensor('axes', [1, 2, 3]), tensor('gain', [], [0.25]), tensor('offset', [], [-6])],
  });
  const session = await ort.InferenceSession.create(model);
  let calls = 0;
  const score: ScoreFn = async (batch, n) => {
    calls++;
    const out = await session.run({ x: new ort.Tensor('float32', batch, [n, 3, 16, 16]) });
    return out.p.data as Float32Array;
  };
  return { score, mask, release: async () => { assert.ok(calls > 0); await session.release(); } };
}

test('deletion and insertion with a real ONNX model: the true mask beats a random order, curves match by hand', async () => {
  const { score, mask, release } = await maskModel();
  try {
    const shape = { channels: 3, height: 16, width: 16 };
    const image = new Float32Array(3 * 256).fill(1);
    // deletion to zeros, 4 pixels per step, mask pixels first: after step i <= 4 the mask keeps 16 - 4i
    // pixels, so p_i = sigmoid(0.25 * 3 * (16 - 4i) - 6) = sigmoid(6 - 3i), then sigmoid(-6) to the end
    const del = await causalCurve(image, shape, saliencyOrder(mask), score, { mode: 'deletion', pixelsPerStep: 4, batchSize: 7 });
    assert.equal(del.substrate, 'zero');
    assert.equal(del.steps, 64);
    const expectDel = Array.from({ length: 65 }, (_, i) => sigmoid(6 - 3 * Math.min(i, 4)));
    del.scores.forEach((v, i) => assert.ok(Math.abs(v - expectDel[i]) < 1e-6, `deletion step ${i}: ${v} vs ${expectDel[i]}`));
    const aucDel = (expectDel.reduce((a, b) => a + b) - (expectDel[0] + expectDel[64]) / 2) / 64;
    assert.ok(Math.abs(del.auc - aucDel) < 1e-6);
    assert.ok(del.auc < 0.05, `deletion AUC ${del.auc}`);

    const cmp = await compareWithRandom(image, shape, mask, score, { mode: 'deletion', pixelsPerStep: 4, seed: 11 });
    assert.ok(Math.abs(cmp.saliency.auc - del.auc) < 1e-9);
    assert.ok(cmp.random.auc > cmp.saliency.auc + 0.3, `random ${cmp.random.auc} vs saliency ${cmp.saliency.auc}`);
    assert.equal(cmp.seed, 11);

    // insertion from zeros: p_i = sigmoid(3i - 6) for i <= 4, then sigmoid(6)
    const ins = await compareWithRandom(image, shape, mask, score, { mode: 'insertion', substrate: 'zero', pixelsPerStep: 4, seed: 11 });
    ins.saliency.scores.forEach((v, i) => assert.ok(Math.abs(v - sigmoid(3 * Math.min(i, 4) - 6)) < 1e-6, `insertion step ${i}`));
    assert.ok(ins.saliency.auc > 0.9 && ins.random.auc < ins.saliency.auc - 0.3, `insertion ${ins.saliency.auc} vs random ${ins.random.auc}`);

    // insertion from the blurred image (RISE's default): an image that is 1 on the mask and 0 elsewhere,
    // blurred (sigma 3, 9 taps), keeps only part of its mass on the mask, so it starts low. The saliency
    // is at feature resolution (4 x 4 cells of 4 x 4 pixels; the mask covers rows 4..7, columns 6..9)
    // and is upsampled by cv2 cubic.
    const onMask = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) onMask.set(mask, c * 256);
    const coarse = new Float32Array(16);
    coarse[1 * 4 + 1] = 1;
    coarse[1 * 4 + 2] = 1;
    const blurIns = await compareWithRandom(onMask, shape, coarse, score, { mode: 'insertion', pixelsPerStep: 4, seed: 12, mapSize: [4, 4], blurSigma: 3, blurSize: 9 });
    assert.equal(blurIns.saliency.substrate, 'blur');
    assert.ok(blurIns.saliency.scores[0] < 0.2, `the blurred start scores ${blurIns.saliency.scores[0]}`);
    assert.ok(Math.abs(blurIns.saliency.scores[64] - sigmoid(6)) < 1e-6, 'the last step is the image itself');
    assert.ok(blurIns.saliency.auc > blurIns.random.auc + 0.2, `blur insertion ${blurIns.saliency.auc} vs random ${blurIns.random.auc}`);
  } finally {
    await release();
  }
});

test('the score function is checked: one finite value per image', async () => {
  const shape = { channels: 1, height: 2, width: 2 };
  const img = new Float32Array(4);
  await assert.rejects(causalCurve(img, shape, [0, 1, 2, 3], async () => new Float32Array(1), { mode: 'deletion', batchSize: 2 }), /returned 1 values for a batch of 2/);
  await assert.rejects(causalCurve(img, shape, [0, 1, 2, 3], async (_b, n) => new Float32Array(n).fill(NaN), { mode: 'deletion' }), /returned NaN for step 0/);
  await assert.rejects(causalCurve(img, shape, [0, 1, 2, 3], async (_b, n) => new Float32Array(n), { mode: 'both' as never }), /mode must be/);
  await assert.rejects(compareWithRandom(img, shape, new Float32Array(9), async (_b, n) => new Float32Array(n), { mode: 'deletion', seed: 1 }), /saliency has 9 values, 4/);
});
