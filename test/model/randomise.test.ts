// Cascading randomisation of a real ONNX model (a ResNet-like net run in onnxruntime): the top convolutions'
// weights are redrawn with their layer's spread, nothing else changes, and the features change while the
// head still reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { decodeModel } from '../../src/onnx/proto.ts';
import { GraphIndex } from '../../src/model/graph.ts';
import { readTensor } from '../../src/model/tensor-data.ts';
import { convolutionsBefore, randomiseTopConvolutions } from '../../src/model/randomise.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';

const weights = (bytes: Uint8Array) => {
  const idx = new GraphIndex(decodeModel(bytes), '.');
  return new Map([...idx.initializers].map(([name, t]) => [name, readTensor(t, '.').data]));
};

test('the last convolutions before the features are redrawn, top first, with their spread; the rest is untouched; seeded', async () => {
  const net = buildResNetLike({ seed: 3 });
  const idx = new GraphIndex(decodeModel(net.model), '.');
  const convs = convolutionsBefore(idx, net.featureTensor);
  assert.ok(convs.length >= 5, `${convs.length} convolutions`);
  const r = randomiseTopConvolutions(net.model, '.', net.featureTensor, 2, 7);
  assert.deepEqual(r.layers.map((l) => l.weight), [convs[convs.length - 1].weight, convs[convs.length - 2].weight]);
  const before = weights(net.model);
  const after = weights(r.bytes);
  for (const [name, w] of before) {
    const changed = r.layers.some((l) => l.weight === name);
    const a = after.get(name)!;
    if (!changed) {
      assert.deepEqual(a, w, `${name} is untouched`);
      continue;
    }
    // Redrawn: different values, same count, spread within 25% of the original's (hundreds of draws).
    assert.equal(a.length, w.length);
    assert.ok(a.some((v, i) => v !== w[i]));
    const std = (x: Float64Array) => {
      const m = x.reduce((s, v) => s + v, 0) / x.length;
      return Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length);
    };
    const layer = r.layers.find((l) => l.weight === name)!;
    assert.ok(Math.abs(layer.std - std(w)) < 1e-9);
    assert.ok(Math.abs(std(a) / std(w) - 1) < 0.25, `${name}: spread ${std(a)} vs ${std(w)}`);
  }
  assert.deepEqual(randomiseTopConvolutions(net.model, '.', net.featureTensor, 2, 7).bytes, r.bytes, 'the same seed gives the same model');
  assert.notDeepEqual(randomiseTopConvolutions(net.model, '.', net.featureTensor, 2, 8).bytes, r.bytes);

  // Both run in onnxruntime; the logits differ (the features changed), the shapes do not.
  const input = new ort.Tensor('float32', Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i)), [1, 3, 32, 32]);
  const run = async (bytes: Uint8Array) => {
    const s = await ort.InferenceSession.create(bytes);
    try {
      return (await s.run({ [net.inputName]: input }))[net.logitsName].data as Float32Array;
    } finally {
      await s.release();
    }
  };
  const l0 = await run(net.model);
  const l1 = await run(r.bytes);
  assert.equal(l1.length, l0.length);
  assert.ok(l1.some((v, i) => Math.abs(v - l0[i]) > 1e-4));
});

test('bad requests are InputErrors naming the problem', () => {
  const net = buildResNetLike();
  assert.throws(() => randomiseTopConvolutions(net.model, '.', net.featureTensor, 0), /positive integer, got 0/);
  assert.throws(() => randomiseTopConvolutions(net.model, '.', net.featureTensor, 99), /99 layers asked for, but only \d+ convolutions/);
  assert.throws(() => randomiseTopConvolutions(net.model, '.', 'nope', 1), /no node produces the feature tensor 'nope'/);
});
