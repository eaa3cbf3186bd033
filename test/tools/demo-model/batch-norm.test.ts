import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from '../../../tools/demo-model/wasm-backend.ts';
import { batchNormTrain, trainableBatchNormalization } from '../../../tools/demo-model/batch-norm.ts';
import { Rng } from '../../../src/util/random.ts';

function randn(rng: Rng, n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * rng.normal();
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const shape: [number, number, number, number] = [4, 5, 6, 3];
const n = shape.reduce((a, b) => a * b, 1);

test('batchNormTrain: output, statistics and gradients equal a float64 reference (hand-derived formulas)', async () => {
  await initWasmBackend();
  const rng = new Rng(3);
  const xv = randn(rng, n, 2, 0.7);
  const gv = Float32Array.from([0.5, 1.5, -0.8]);
  const bv = Float32Array.from([0.1, -0.2, 0.3]);
  const wv = randn(rng, n); // loss = sum(w * y)
  const eps = 1e-3;
  // float64 reference straight from the definition
  const C = 3;
  const M = n / C;
  const mean = [0, 0, 0];
  const vari = [0, 0, 0];
  for (let i = 0; i < n; i++) mean[i % C] += xv[i] / M;
  for (let i = 0; i < n; i++) vari[i % C] += (xv[i] - mean[i % C]) ** 2 / M;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = (gv[i % C] * (xv[i] - mean[i % C])) / Math.sqrt(vari[i % C] + eps) + bv[i % C];
  // numeric gradient of loss wrt x by central differences in float64
  const lossAt = (xs: Float64Array) => {
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    for (let i = 0; i < n; i++) m[i % C] += xs[i] / M;
    for (let i = 0; i < n; i++) v[i % C] += (xs[i] - m[i % C]) ** 2 / M;
    let s = 0;
    for (let i = 0; i < n; i++) s += wv[i] * ((gv[i % C] * (xs[i] - m[i % C])) / Math.sqrt(v[i % C] + eps) + bv[i % C]);
    return s;
  };
  const x64 = Float64Array.from(xv);
  const dxRef = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = 1e-5;
    const p = Float64Array.from(x64); p[i] += h;
    const q = Float64Array.from(x64); q[i] -= h;
    dxRef[i] = (lossAt(p) - lossAt(q)) / (2 * h);
  }
  const dgRef = [0, 0, 0];
  const dbRef = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    dgRef[i % C] += (wv[i] * (xv[i] - mean[i % C])) / Math.sqrt(vari[i % C] + eps);
    dbRef[i % C] += wv[i];
  }
  for (const backend of ['wasm', 'cpu']) {
    tf.setBackend(backend);
    assert.equal(tf.getBackend(), backend);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.tensor4d(xv, shape);
      const g = tf.tensor1d(gv);
      const b = tf.tensor1d(bv);
      const w = tf.tensor4d(wv, shape);
      const r = batchNormTrain(x, g, b, eps);
      assert.ok(maxAbsDiff(r.y.dataSync(), y) < 1e-4, `${backend}: forward`);
      assert.ok(maxAbsDiff(r.mean.dataSync(), mean) < 1e-5, `${backend}: mean`);
      assert.ok(maxAbsDiff(r.variance.dataSync(), vari) < 1e-4, `${backend}: variance`);
      r.mean.dispose();
      r.variance.dispose();
      const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
        const o = batchNormTrain(xx, gg, bb, eps);
        o.mean.dispose();
        o.variance.dispose();
        return tf.sum(tf.mul(o.y, w));
      })([x, g, b]);
      assert.ok(maxAbsDiff(dx.dataSync(), dxRef) < 1e-3, `${backend}: dx ${maxAbsDiff(dx.dataSync(), dxRef)}`);
      assert.ok(maxAbsDiff(dg.dataSync(), dgRef) < 1e-3, `${backend}: dgamma`);
      assert.ok(maxAbsDiff(db.dataSync(), dbRef) < 1e-4, `${backend}: dbeta`);
    });
    assert.equal(tf.memory().numTensors, before, `${backend}: no tensors leaked`);
  }
  await tf.setBackend('wasm');
});

test('TrainableBatchNormalization behaves as tfjs-layers BatchNormalization (training and inference, moving stats)', async () => {
  await initWasmBackend();
  const rng = new Rng(5);
  const xv = randn(rng, n, 1.5, -0.4);
  const x2 = randn(rng, n, 0.5, 1.0);
  const args = { momentum: 0.8, epsilon: 1e-3, inputShape: shape.slice(1) };
  const ours = tf.sequential({ layers: [trainableBatchNormalization(args)] });
  const theirs = tf.sequential({ layers: [tf.layers.batchNormalization(args)] });
  assert.equal(ours.layers[0].getClassName(), 'BatchNormalization');
  const weights = [Float32Array.from([1.2, 0.7, -1]), Float32Array.from([0.3, 0, -0.5]), Float32Array.from([0.1, 0.2, 0.3]), Float32Array.from([1.5, 0.5, 2])];
  for (const m of [ours, theirs]) m.layers[0].setWeights(weights.map((w) => tf.tensor1d(w)));
  const run = (m: tf.Sequential, v: Float32Array, training: boolean) =>
    tf.tidy(() => (m.apply(tf.tensor4d(v, shape), { training }) as tf.Tensor).dataSync());
  for (const v of [xv, x2]) {
    assert.ok(maxAbsDiff(run(ours, v, true), run(theirs, v, true)) < 1e-4, 'training-mode output');
  }
  // two training calls moved the moving mean / variance the same way
  const stats = (m: tf.Sequential) => m.layers[0].getWeights().slice(2).flatMap((t) => Array.from(t.dataSync()));
  assert.ok(maxAbsDiff(stats(ours), stats(theirs)) < 1e-5, 'moving statistics');
  assert.ok(maxAbsDiff(stats(ours), [0.1, 0.2, 0.3, 1.5, 0.5, 2]) > 0.05, 'moving statistics did change');
  assert.ok(maxAbsDiff(run(ours, xv, false), run(theirs, xv, false)) < 1e-5, 'inference-mode output');
  // config round-trips as the standard layer
  assert.deepEqual(ours.layers[0].getConfig(), { ...theirs.layers[0].getConfig(), name: ours.layers[0].name });
});
