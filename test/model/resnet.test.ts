// The small ResNet-like net end to end through onnxruntime; fixed vs dynamic batch; dynamic input
// size; the ResNet-18-shaped builder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { valueInfo } from '../../src/onnx/builder.ts';
import { decodeModel, encodeModel } from '../../src/onnx/proto.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { buildDenseNet121, buildResNet18, buildResNetLike } from '../helpers/synthetic-nets.ts';
import { initializer, maxAbs, maxAbsDiff, patternInput, referenceLogits, writeModel } from './fixtures.ts';

test('ResNet-like net: features are the model\'s own final ReLU map (moved channels-last) and GAP + fc reproduces its logits', async () => {
  const net = buildResNetLike({ seed: 3 });
  const path = writeModel(net.model);
  const c = await loadClassifier(path);
  const n = 3;
  const x = patternInput(n, c.inputLength);
  const r = await c.run(x, n);
  await c.close();
  assert.equal(c.features.tensor, net.featureTensor);
  assert.deepEqual([c.features.H, c.features.W, c.features.D], [...net.featureSize, net.featureDim]);
  assert.deepEqual([c.features.H, c.features.W, c.features.D], [8, 8, 16]);
  assert.equal(c.head.numClasses, 10);
  assert.equal(c.maxBatch, null);
  assert.match(c.sha256, /^[0-9a-f]{64}$/);

  // Reference: the unmodified graph with the ReLU map declared as an extra output (no Transpose),
  // run in its own session.
  const m = decodeModel(net.model);
  m.graph!.output!.push(valueInfo(net.featureTensor, null));
  const ref = await ort.InferenceSession.create(encodeModel(m));
  const out = await ref.run({ input: new ort.Tensor('float32', x, [n, 3, 32, 32]) });
  await ref.release();
  const nchw = out[net.featureTensor].data as Float32Array;
  const [H, W, D] = [8, 8, 16];
  let worst = 0;
  for (let i = 0; i < n; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let d = 0; d < D; d++) {
    worst = Math.max(worst, Math.abs(r.features[((i * H + h) * W + w) * D + d] - nchw[((i * D + d) * H + h) * W + w]));
  }
  assert.equal(worst, 0, 'features differ from the model\'s own ReLU output');
  assert.equal(maxAbsDiff(out.logits.data as Float32Array, r.logits), 0);
  assert.ok(Math.min(...r.features) >= 0, 'features after the final ReLU are non-negative');

  // GAP + the fc weights read straight from the file reproduce the logits.
  const fcW = initializer(net.model, 'fc.weight');
  const fcb = initializer(net.model, 'fc.bias');
  assert.deepEqual(fcW.dims, [10, 16]);
  const gap = referenceLogits(r.features, n, H * W, D, fcW.data, fcb.data);
  assert.ok(maxAbsDiff(gap, r.logits) <= 1e-5 * maxAbs(r.logits));
  assert.deepEqual(Array.from(c.head.W), Array.from(fcW.data));
  assert.ok(c.headCheck.relError < 1e-6, `relError ${c.headCheck.relError}`);
});

test('the same weights with a fixed batch of 1 run looped, and a fixed batch of 2 pads the last chunk: results equal the dynamic-batch model', async () => {
  const n = 5;
  const results = [];
  for (const batch of ['dynamic', 1, 2] as const) {
    const c = await loadClassifier(writeModel(buildResNetLike({ seed: 7, batch }).model));
    assert.equal(c.maxBatch, batch === 'dynamic' ? null : batch);
    assert.equal(c.headCheck.batch, 2);
    results.push(await c.run(patternInput(n, c.inputLength), n));
    await c.close();
  }
  for (const r of results.slice(1)) {
    assert.ok(maxAbsDiff(r.logits, results[0].logits) <= 1e-5 * maxAbs(results[0].logits));
    assert.ok(maxAbsDiff(r.features, results[0].features) <= 1e-5 * maxAbs(results[0].features));
  }
});

test('a dynamic-size model runs at the requested size (square or H x W) and says where the size came from', async () => {
  const path = writeModel(buildResNetLike({ seed: 1, dynamicSpatial: true }).model);
  const a = await loadClassifier(path, { inputSize: 48 });
  assert.deepEqual([a.input.height, a.input.width, a.input.sizeSource, a.features.H, a.features.W], [48, 48, 'option', 12, 12]);
  await a.close();
  const b = await loadClassifier(path, { inputSize: [40, 24] });
  assert.deepEqual([b.features.H, b.features.W], [10, 6]);
  await b.close();
  const d = await loadClassifier(path);
  assert.deepEqual([d.input.height, d.input.sizeSource, d.features.H], [224, 'default', 56]);
  await d.close();
});

test('ResNet-18 builder: torchvision\'s 11,689,512 parameters, 7 x 7 x 512 features at 224, head check passes', async () => {
  const net = buildResNet18({ seed: 0 });
  assert.equal(net.parameters, 11_689_512);
  assert.deepEqual(net.featureSize, [7, 7]);
  const c = await loadClassifier(writeModel(net.model), { checkBatch: 1, intraOpThreads: 2 });
  await c.close();
  assert.deepEqual([c.features.H, c.features.W, c.features.D, c.head.numClasses], [7, 7, 512, 1000]);
  assert.ok(c.headCheck.relError < 1e-5, `relError ${c.headCheck.relError}`);
  assert.ok(c.features.nonNegative);
});

test('DenseNet-121 builder: torchvision\'s 7,978,856 parameters; its head (ReLU, GAP, Flatten, Gemm) is found, 7 x 7 x 1024 features at 224', async () => {
  const net = buildDenseNet121({ seed: 0 });
  assert.equal(net.parameters, 7_978_856);
  assert.deepEqual([...net.featureSize, net.featureDim], [7, 7, 1024]);
  const c = await loadClassifier(writeModel(net.model), { checkBatch: 1, intraOpThreads: 2 });
  const x = patternInput(2, c.inputLength);
  const r = await c.run(x, 2);
  await c.close();
  assert.equal(c.features.tensor, net.featureTensor);
  assert.deepEqual([c.features.H, c.features.W, c.features.D, c.head.numClasses], [7, 7, 1024, 1000]);
  assert.ok(c.features.nonNegative);
  assert.ok(c.headCheck.relError < 1e-5, `relError ${c.headCheck.relError}`);
  // GAP + fc over the returned features reproduces the returned logits.
  const W = initializer(net.model, 'fc.weight').data;
  const bias = initializer(net.model, 'fc.bias').data;
  const HW = 49;
  for (let i = 0; i < 2; i++) {
    for (const cls of [0, 17, 999]) {
      let z = bias[cls];
      for (let d = 0; d < 1024; d++) {
        let m = 0;
        for (let p = 0; p < HW; p++) m += r.features[(i * HW + p) * 1024 + d];
        z += (m / HW) * W[cls * 1024 + d];
      }
      assert.ok(Math.abs(z - r.logits[i * 1000 + cls]) <= 1e-4 * Math.max(1, Math.abs(z)), `image ${i} class ${cls}: ${z} vs ${r.logits[i * 1000 + cls]}`);
    }
  }
});

test('synthetic nets are deterministic from the seed', () => {
  const a = buildResNetLike({ seed: 5 });
  const b = buildResNetLike({ seed: 5 });
  const c = buildResNetLike({ seed: 6 });
  assert.deepEqual(a.model, b.model);
  assert.notDeepEqual(a.model, c.model);
});
