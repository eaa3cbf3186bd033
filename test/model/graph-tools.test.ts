// Pure pieces: symbolic shapes of the pooled vector, tensor decoding, pooling-axis classification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../src/onnx/builder.ts';
import { DataType } from '../../src/onnx/proto.ts';
import { classifyPoolingAxes } from '../../src/model/head.ts';
import { ShapeStepError, constantBroadcast, flatten, reshape, squeeze, transpose, unsqueeze } from '../../src/model/symbolic-shape.ts';
import { readTensor } from '../../src/model/tensor-data.ts';
import { compareLogits, gapLinear } from '../../src/model/logit-check.ts';

test('flatten, squeeze, unsqueeze and transpose follow the pooled vector', () => {
  assert.deepEqual(flatten(['N', 'D', 1, 1], 1), ['N', 'D']);
  assert.throws(() => flatten(['N', 'D', 1, 1], 0), ShapeStepError); // would merge N and D
  assert.deepEqual(squeeze(['N', 'D', 1, 1], [2, 3]), ['N', 'D']);
  assert.deepEqual(squeeze(['N', 1, 1, 'D'], [-3, -2]), ['N', 'D']);
  assert.deepEqual(squeeze([1, 'D', 1, 1], undefined), ['D']);
  assert.throws(() => squeeze(['N', 'D', 1, 1], [1]), /squeezes axis 1, which holds D/);
  assert.deepEqual(unsqueeze(['N', 'D'], [1]), ['N', 1, 'D']);
  assert.deepEqual(transpose(['N', 1, 1, 'D'], [0, 3, 1, 2]), ['N', 'D', 1, 1]);
});

test('reshape keeps N and D apart, records required sizes, and notices a batch forced to 1', () => {
  assert.deepEqual(reshape(['N', 'D', 1, 1], [0, -1], 'r'), { shape: ['N', 'D'], batchToOne: false, requires: [] });
  assert.deepEqual(reshape(['N', 'D', 1, 1], [-1, 512], 'r'), { shape: ['N', 'D'], batchToOne: false, requires: [{ sym: 'D', size: 512, node: 'r' }] });
  assert.deepEqual(reshape(['N', 'D'], [1, -1], 'r').batchToOne, true);
  assert.deepEqual(reshape(['N', 'D'], [-1], 'r'), { shape: ['D'], batchToOne: true, requires: [] }); // N x D values in one axis: only for N = 1
  assert.throws(() => reshape(['N', 'D', 1, 1], [0, 1, -1, 2], 'r'), /does not keep the axes N x D x 1 x 1 apart/);
  assert.throws(() => reshape(['N', 'D'], [0, 2, -1], 'r'), ShapeStepError);
});

test('constants broadcast as scalars or along the tracked axis only', () => {
  assert.equal(constantBroadcast(['N', 'D', 1, 1], [], 'D').kind, 'scalar');
  assert.deepEqual(constantBroadcast(['N', 'D', 1, 1], [7, 1, 1], 'D'), { kind: 'per-axis', length: 7, shape: ['N', 'D', 1, 1] });
  assert.deepEqual(constantBroadcast(['N', 'D'], [1, 1, 7], 'D').shape, [1, 'N', 'D']);
  assert.throws(() => constantBroadcast(['N', 'D', 1, 1], [7], 'D'), /varies along axis 3/); // [7] aligns with the last (singleton) axis
  assert.throws(() => constantBroadcast(['N', 'D'], [3, 1], 'D'), /varies along axis 0 \(N\)/);
});

test('pooling axes: NCHW, NHWC, tokens; a mean over channels is not pooling', () => {
  assert.equal(classifyPoolingAxes([2, 3], null)?.layout, 'NCHW');
  assert.equal(classifyPoolingAxes([-1, -2], null)?.layout, 'NCHW');
  assert.equal(classifyPoolingAxes([1, 2], null)?.layout, 'NHWC');
  assert.equal(classifyPoolingAxes([-3, -2], null)?.layout, 'NHWC');
  assert.equal(classifyPoolingAxes([1], null)?.layout, 'NTD');
  assert.equal(classifyPoolingAxes([-2], 3)?.layout, 'NTD');
  assert.equal(classifyPoolingAxes([1], 4), null);
  assert.equal(classifyPoolingAxes([0, 2, 3], 4), null);
});

test('readTensor decodes raw float32, float16, int64 and typed-field tensors', () => {
  assert.deepEqual(Array.from(readTensor(tensor('f', [2], [1.5, -2]), '/').data), [1.5, -2]);
  assert.deepEqual(Array.from(readTensor(tensor('i', [3], [3, -4, 5], DataType.INT64), '/').data), [3, -4, 5]);
  // float16: 0x3c00 = 1, 0xc000 = -2, 0x3555 ~ 0.33325
  const half = { name: 'h', dims: [3], dataType: DataType.FLOAT16, rawData: new Uint8Array(Uint16Array.of(0x3c00, 0xc000, 0x3555).buffer) };
  const h = readTensor(half, '/').data;
  assert.deepEqual([h[0], h[1]], [1, -2]);
  assert.ok(Math.abs(h[2] - 0.33325) < 1e-4);
  assert.deepEqual(Array.from(readTensor({ name: 'fd', dims: [2], dataType: DataType.FLOAT, floatData: [0.25, 4] }, '/').data), [0.25, 4]);
  assert.throws(() => readTensor({ name: 'short', dims: [3], dataType: DataType.FLOAT, floatData: [1] }, '/'), /tensor 'short': 1 values stored, 3 expected/);
});

test('gapLinear and compareLogits on a hand-computed case', () => {
  // 1 image, 2 positions, D = 2: positions (1, 2) and (3, 4) -> mean (2, 3). W = [[1, 0], [1, -1]], b = [0.5, 0].
  const head = gapLinear(Float32Array.of(1, 2, 3, 4), 1, 2, 2, Float32Array.of(1, 0, 1, -1), Float32Array.of(0.5, 0));
  assert.deepEqual(Array.from(head), [2.5, -1]);
  const b = [0.5, 0];
  const cmp = compareLogits(head, [2.5, -1.5], b);
  assert.equal(cmp.maxAbsError, 0.5);
  assert.equal(cmp.maxAbsLogit, 2.5);
  assert.equal(cmp.maxAbsLinear, 2); // |W x| = |(2, -1)|
  assert.equal(cmp.relError, 0.25); // 0.5 / max(2, 0.01 x 2.5)
  assert.equal(cmp.nonFinite, null);
});

test('the logit check: non-finite values always fail and are named; the scale is W\'s contribution, not a dominating bias', () => {
  // NaN or an infinite logit anywhere fails, also when later values are fine (they used to overwrite it).
  for (const bad of [NaN, Infinity, -Infinity]) {
    const c = compareLogits([1, 2, 3, 4], [1, bad, 3, 4], [0, 0]);
    assert.ok(!(c.relError <= 1), `${bad}`);
    assert.deepEqual(c.nonFinite, { image: 0, class: 1, logit: bad, head: 2 });
  }
  assert.ok(!(compareLogits([Infinity, 1], [Infinity, 1], [0, 0]).relError <= 1), 'equal infinities are no agreement');
  // Bias-dominated: b = 1000, W x = 0.01. A head that gets W's part wrong by its whole size is off by
  // 1e-5 of the logit (it passed before) but by 1x of W's contribution / 10 of 1% of the logit: refused.
  const wrong = compareLogits([1000.01], [1000.02], [1000]);
  assert.ok(Math.abs(wrong.relError - 0.01 / 10.0002) < 1e-9, `${wrong.relError}`);
  assert.ok(!(wrong.relError <= 1e-4));
  // Float32 rounding of a large logit stays far below the tolerance.
  const rounding = compareLogits([1000.01], [Math.fround(1000.01)], [1000]);
  assert.ok(rounding.relError <= 1e-5, `${rounding.relError}`);
});
