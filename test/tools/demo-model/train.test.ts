import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from '../../../tools/demo-model/wasm-backend.ts';
import { buildCnn, describeModel, finalMapSize, forwardMacs, demoCnnSpec, type CnnSpec } from '../../../tools/demo-model/model.ts';
import { accuracy, learningRateAt, predictLogits, trainClassifier, type LabelledImages, type TrainConfig } from '../../../tools/demo-model/train.ts';
import { drawTransform, transformImage } from '../../../tools/demo-model/augment.ts';
import { Rng } from '../../../src/util/random.ts';

/** Two planted classes on 16 x 16 x 3: a bright horizontal bar (0) or vertical bar (1) at a random place, in noise. */
function bars(count: number, seed: number): LabelledImages {
  const rng = new Rng(seed);
  const H = 16;
  const W = 16;
  const C = 3;
  const images = new Float32Array(count * H * W * C);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    labels[i] = label;
    const at = 2 + rng.int(12);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const on = label === 0 ? Math.abs(y - at) <= 1 : Math.abs(x - at) <= 1;
      for (let c = 0; c < C; c++) images[((i * H + y) * W + x) * C + c] = 0.4 * rng.normal() + (on ? 1.5 : -0.5);
    }
  }
  return { images, labels, count, height: H, width: W, channels: C };
}

const tinySpec: CnnSpec = {
  inputSize: [16, 16],
  inputChannels: 3,
  kernelSize: 3,
  blocks: [{ filters: 8, stride: 1 }, { filters: 16, stride: 2 }],
  numClasses: 2,
  batchNormMomentum: 0.9,
  batchNormEpsilon: 1e-3,
};

const tinyConfig: TrainConfig = {
  epochs: 4,
  batchSize: 16,
  learningRate: 1e-2,
  warmupEpochs: 0,
  schedule: 'cosine',
  weightDecay: 1e-4,
  augment: { flip: true, maxShift: 2 },
  seed: 5,
};

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => Float32Array.from(await w.data() as Float32Array)));
}

test('training on planted bars: loss falls, held-out accuracy high, same seed gives the same weights bit for bit', async () => {
  await initWasmBackend();
  const train = bars(96, 1);
  const held = bars(64, 2);
  const before = tf.memory().numTensors;
  const runs: { loss: number[]; acc: number; weights: Float32Array[] }[] = [];
  for (let r = 0; r < 2; r++) {
    const model = buildCnn(tinySpec, 9);
    const res = await trainClassifier(model, train, tinyConfig);
    assert.equal(res.steps, 4 * 6);
    runs.push({ loss: res.epochs.map((e) => e.loss), acc: accuracy(predictLogits(model, held), held.labels), weights: await weightsOf(model) });
    model.dispose();
  }
  const [a, b] = runs;
  assert.ok(a.loss[a.loss.length - 1] < 0.5 * a.loss[0], `loss ${a.loss.map((l) => l.toFixed(3)).join(' -> ')}`);
  assert.ok(a.acc >= 0.9, `held-out accuracy ${a.acc}`);
  assert.deepEqual(a.loss, b.loss);
  assert.equal(a.weights.length, b.weights.length);
  for (let i = 0; i < a.weights.length; i++) assert.deepEqual(a.weights[i], b.weights[i], `weight ${i} differs between identical runs`);
  assert.ok(tf.memory().numTensors <= before + 1, `tensors leaked: ${before} -> ${tf.memory().numTensors}`);
  // a different data seed changes the run
  const model = buildCnn(tinySpec, 9);
  const other = await trainClassifier(model, train, { ...tinyConfig, seed: 6, epochs: 1 });
  assert.notEqual(other.epochs[0].loss, a.loss[0]);
  model.dispose();
});

test('buildCnn: seeded initial weights, He-normal conv scale, shapes of the demo model', async () => {
  await initWasmBackend();
  const spec = demoCnnSpec(15);
  const m1 = buildCnn(spec, 3);
  const m2 = buildCnn(spec, 3);
  const m3 = buildCnn(spec, 4);
  const w1 = await weightsOf(m1);
  const w2 = await weightsOf(m2);
  const w3 = await weightsOf(m3);
  w1.forEach((w, i) => assert.deepEqual(w, w2[i]));
  assert.notDeepEqual(w1[0], w3[0]);
  // block 4 conv: 3 x 3 x 64 -> 128, std should be sqrt(2 / 576)
  const conv4 = m1.getLayer('block4_conv').getWeights()[0];
  const v = conv4.dataSync();
  let ss = 0;
  for (const x of v) ss += x * x;
  const std = Math.sqrt(ss / v.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 576)) < 0.05 * Math.sqrt(2 / 576), `std ${std}`);
  assert.deepEqual(finalMapSize(spec), [8, 8]);
  const d = describeModel(m1);
  assert.deepEqual(d.layers.find((l) => l.name === 'block5_relu')!.outputShape, [8, 8, 128]);
  assert.deepEqual(d.layers[d.layers.length - 1].outputShape, [15]);
  // MACs by hand: 64*64*27*16 + 32*32*144*32 + 16*16*288*64 + 8*8*576*128 + 8*8*1152*128 + 128*15
  assert.equal(forwardMacs(spec), 64 * 64 * 27 * 16 + 32 * 32 * 144 * 32 + 16 * 16 * 288 * 64 + 8 * 8 * 576 * 128 + 8 * 8 * 1152 * 128 + 128 * 15);
  for (const m of [m1, m2, m3]) m.dispose();
});

test('learning-rate schedule: linear warm-up from lr/10, cosine to zero', () => {
  const c = { ...tinyConfig, learningRate: 1, warmupEpochs: 1 };
  // 10 steps per epoch, 50 in all: warm-up steps 0..9
  assert.ok(Math.abs(learningRateAt(c, 0, 50, 10) - (0.1 + 0.09)) < 1e-12);
  assert.ok(Math.abs(learningRateAt(c, 9, 50, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(c, 10, 50, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(c, 30, 50, 10) - 0.5) < 1e-12); // half-way through the 40 cosine steps
  assert.ok(learningRateAt(c, 49, 50, 10) < 0.002);
  assert.equal(learningRateAt({ ...c, schedule: 'constant' }, 49, 50, 10), 1);
});

test('augmentation: flip mirrors columns, shifts move content and repeat the edge', () => {
  const H = 3;
  const W = 4;
  const src = Float32Array.from({ length: H * W }, (_, i) => i); // value = y * 4 + x, one channel
  const out = new Float32Array(H * W);
  transformImage(src, out, H, W, 1, { flip: true, dy: 0, dx: 0 });
  assert.deepEqual(Array.from(out), [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]);
  transformImage(src, out, H, W, 1, { flip: false, dy: 1, dx: -1 });
  // out[y][x] = src[clamp(y-1)][clamp(x+1)]
  assert.deepEqual(Array.from(out), [1, 2, 3, 3, 1, 2, 3, 3, 5, 6, 7, 7]);
  const rng = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const t = drawTransform({ flip: true, maxShift: 2 }, rng);
    assert.ok(Math.abs(t.dx) <= 2 && Math.abs(t.dy) <= 2);
    seen.add(t.dx);
  }
  assert.equal(seen.size, 5);
  const off = drawTransform({ flip: false, maxShift: 0 }, new Rng(1));
  assert.deepEqual(off, { flip: false, dy: 0, dx: 0 });
});
