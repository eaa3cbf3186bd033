import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from '../../../tools/demo-model/wasm-backend.ts';
import { exportLayersModelToOnnx, tfPadding } from '../../../tools/demo-model/tfjs-to-onnx.ts';
import { checkParity, nhwcToNchw, onnxLogits } from '../../../tools/demo-model/tfjs-onnx-parity.ts';
import { decodeModel, encodeModel } from '../../../src/onnx/proto.ts';
import { InputError } from '../../../src/util/errors.ts';
import { Rng } from '../../../src/util/random.ts';
import type { LabelledImages } from '../../../tools/demo-model/train.ts';

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

/** Give every weight a random value; BN gets gamma ~ +-[0.5, 1.5], beta, mean ~ N(0, 0.5), var in [0.2, 2]. */
function randomise(model: tf.LayersModel, rng: Rng): void {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (ws.length === 0) continue;
    const cls = layer.getClassName();
    layer.setWeights(ws.map((w, j) => {
      const shape = w.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      if (cls === 'BatchNormalization') {
        const v = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          v[i] = j === 0 ? (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.5, 1.5) : j === 3 ? rng.uniform(0.2, 2) : 0.5 * rng.normal();
        }
        return tf.tensor(v, shape);
      }
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return tf.tensor(randn(rng, n, Math.sqrt(2 / fanIn), 0), shape);
    }));
  }
}

function images(rng: Rng, count: number, h: number, w: number, c: number): LabelledImages {
  return { images: randn(rng, count * h * w * c), labels: new Int32Array(count), count, height: h, width: w, channels: c };
}

/** Stride-2 'same' convs on an even (10 -> 5, pads 0/1) and an odd (5 -> 3, pads 1/1) map; BN; GAP head. */
function gapModel(): tf.Sequential {
  const m = tf.sequential({ name: 'tiny_gap' });
  m.add(tf.layers.conv2d({ inputShape: [10, 10, 3], filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }));
  m.add(tf.layers.batchNormalization({ name: 'bn1', epsilon: 1e-3 }));
  m.add(tf.layers.reLU({ name: 'r1' }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: true, activation: 'relu', name: 'c2' }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'c3' }));
  m.add(tf.layers.batchNormalization({ name: 'bn3', epsilon: 0.01 }));
  m.add(tf.layers.activation({ activation: 'relu', name: 'r3' }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ units: 4, name: 'fc' }));
  return m;
}

test('tfPadding follows TF: same at stride 2 puts the odd pixel after; valid drops the remainder', () => {
  assert.deepEqual(tfPadding(64, 3, 2, 1, 'same'), { out: 32, before: 0, after: 1 });
  assert.deepEqual(tfPadding(5, 3, 2, 1, 'same'), { out: 3, before: 1, after: 1 });
  assert.deepEqual(tfPadding(64, 3, 1, 1, 'same'), { out: 64, before: 1, after: 1 });
  assert.deepEqual(tfPadding(8, 4, 2, 1, 'same'), { out: 4, before: 1, after: 1 });
  assert.deepEqual(tfPadding(7, 3, 1, 2, 'same'), { out: 7, before: 2, after: 2 });
  assert.deepEqual(tfPadding(8, 3, 2, 1, 'valid'), { out: 3, before: 0, after: 0 });
  // the sizes must agree with tfjs' own shape arithmetic
  for (const [n, k, s] of [[64, 3, 2], [33, 3, 2], [10, 5, 3], [7, 2, 2]]) {
    for (const pad of ['same', 'valid'] as const) {
      const info = tf.backend_util.computeConv2DInfo([1, n, n, 1], [k, k, 1, 1], s, 1, pad);
      const p = tfPadding(n, k, s, 1, pad);
      assert.equal(p.out, info.outHeight, `${pad} n=${n} k=${k} s=${s}`);
      assert.equal(p.before, info.padInfo.top, `${pad} n=${n} k=${k} s=${s} top`);
      assert.equal(p.after, info.padInfo.bottom, `${pad} n=${n} k=${k} s=${s} bottom`);
    }
  }
});

test('exported tiny GAP model: onnxruntime logits equal tfjs (BN kept and folded), pads asymmetric, Relu feeds the pooling', async () => {
  await initWasmBackend();
  const rng = new Rng(21);
  const model = gapModel();
  randomise(model, rng);
  const data = images(rng, 37, 10, 10, 3);
  for (const foldBatchNorm of [false, true]) {
    const ex = exportLayersModelToOnnx(model, { foldBatchNorm });
    const parity = await checkParity(model, ex.bytes, data, 1e-4);
    assert.equal(parity.argmaxAgreement, 1);
    assert.ok(parity.maxAbsLogit > 0.5, 'logits are not trivially small');
    const g = decodeModel(ex.bytes).graph!;
    const convs = g.node!.filter((n) => n.opType === 'Conv');
    const pads = convs.map((n) => Array.from(n.attribute!.find((a) => a.name === 'pads')!.ints!, Number));
    assert.deepEqual(pads, [[1, 1, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1]]);
    assert.equal(ex.foldedBatchNorm, foldBatchNorm);
    assert.equal(g.node!.filter((n) => n.opType === 'BatchNormalization').length, foldBatchNorm ? 0 : 2);
    const pool = g.node!.find((n) => n.opType === 'GlobalAveragePool')!;
    const producer = g.node!.find((n) => n.output!.includes(pool.input![0]))!;
    assert.equal(producer.opType, 'Relu');
    assert.equal(ex.featureTensor, pool.input![0]);
    assert.deepEqual(g.input!.map((i) => i.name), ['input']);
    assert.deepEqual(g.output!.map((o) => o.name), ['logits']);
    const dims = g.input![0].type!.tensorType!.shape!.dim!;
    assert.equal(dims[0].dimParam, 'N');
    assert.deepEqual(dims.slice(1).map((d) => Number(d.dimValue)), [3, 10, 10]);
    const gemm = g.node!.find((n) => n.opType === 'Gemm')!;
    assert.equal(Number(gemm.attribute!.find((a) => a.name === 'transB')!.i), 1);
  }
});

test('exported Flatten-over-a-map model with valid stride-2 conv, Dense relu and softmax matches tfjs', async () => {
  await initWasmBackend();
  const rng = new Rng(22);
  const m = tf.sequential({ name: 'tiny_flat' });
  m.add(tf.layers.conv2d({ inputShape: [9, 8, 2], filters: 5, kernelSize: [3, 2], strides: [2, 3], padding: 'valid', name: 'c1' }));
  m.add(tf.layers.batchNormalization({ name: 'bn1' }));
  m.add(tf.layers.reLU({ name: 'r1' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 7, activation: 'relu', name: 'd1' }));
  m.add(tf.layers.dropout({ rate: 0.5, name: 'drop' }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax', name: 'd2' }));
  randomise(m, rng);
  const data = images(rng, 11, 9, 8, 2);
  const ex = exportLayersModelToOnnx(m);
  assert.deepEqual(ex.ops, ['Conv', 'BatchNormalization', 'Relu', 'Transpose', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Softmax']);
  const parity = await checkParity(m, ex.bytes, data, 1e-5);
  assert.equal(parity.images, 11);
  // the NHWC transpose before Flatten matters: without it the logits differ (the check can fail)
  const proto = decodeModel(ex.bytes);
  const nodes = proto.graph!.node!;
  const tr = nodes.findIndex((n) => n.opType === 'Transpose');
  const flatten = nodes.find((n) => n.opType === 'Flatten')!;
  flatten.input = [nodes[tr].input![0]];
  nodes.splice(tr, 1);
  const broken = await onnxLogits(encodeModel(proto), nhwcToNchw(data.images, 11, 9, 8, 2), 11, [2, 9, 8]);
  const good = await onnxLogits(ex.bytes, nhwcToNchw(data.images, 11, 9, 8, 2), 11, [2, 9, 8]);
  let diff = 0;
  for (let i = 0; i < good.length; i++) diff = Math.max(diff, Math.abs(good[i] - broken[i]));
  assert.ok(diff > 1e-2, `dropping the transpose changed the outputs by only ${diff}`);
  for (let r = 0; r < 11; r++) {
    const rowSum = good[r * 3] + good[r * 3 + 1] + good[r * 3 + 2];
    assert.ok(Math.abs(rowSum - 1) < 1e-5, 'softmax rows sum to 1');
  }
});

test('unsupported layers and shapes are InputErrors naming the layer', () => {
  const m = tf.sequential({ name: 'pooling' });
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, name: 'c' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'mp' }));
  m.add(tf.layers.flatten({}));
  m.add(tf.layers.dense({ units: 2 }));
  assert.throws(() => exportLayersModelToOnnx(m), (e: unknown) => e instanceof InputError && /'mp' \(MaxPooling2D\)/.test(e.message));
  const t = tf.sequential({ name: 'tanh' });
  t.add(tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 3, activation: 'tanh', name: 'ct' }));
  t.add(tf.layers.globalAveragePooling2d({}));
  t.add(tf.layers.dense({ units: 2 }));
  assert.throws(() => exportLayersModelToOnnx(t), (e: unknown) => e instanceof InputError && /'ct'.*tanh/.test(e.message));
});
