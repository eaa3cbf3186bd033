// Every supported head shape, built in code and run through onnxruntime: the detected W, b applied
// to the returned features (independent float64 GAP + linear here) must give the logits the
// original, unmodified model computes in its own session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { buildModel, int64Tensor, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { loadClassifier, type Classifier } from '../../src/model/classifier.ts';
import { buildHeadModel, type HeadModelSpec } from '../helpers/head-models.ts';
import { maxAbs, maxAbsDiff, patternInput, referenceLogits, writeModel } from './fixtures.ts';

interface Expect {
  pooling?: string;
  linear?: string;
  folded?: string[];
  layout?: 'NCHW' | 'NHWC' | 'NTD';
  grid?: [number, number];
  nonNegative?: boolean;
  logitsIsGraphOutput?: boolean;
}

async function verify(spec: HeadModelSpec, expect: Expect = {}): Promise<Classifier> {
  const m = buildHeadModel(spec);
  const path = writeModel(m.model);
  const c = await loadClassifier(path);
  try {
    const n = 3;
    const x = patternInput(n, c.inputLength);
    const r = await c.run(x, n);
    assert.equal(r.features.length, n * c.features.HW * c.features.D);
    assert.equal(r.logits.length, n * c.head.numClasses);
    // linear(GAP(features)) with the detected W, b, computed independently, vs the session's logits.
    const ref = referenceLogits(r.features, n, c.features.HW, c.features.D, c.head.W, c.head.b);
    assert.ok(maxAbsDiff(ref, r.logits) <= 1e-5 * Math.max(1, maxAbs(r.logits)), `head does not reproduce logits: ${maxAbsDiff(ref, r.logits)}`);
    assert.ok(c.headCheck.relError <= 1e-4);
    // The session's logits are the original model's own output.
    // (image by image when the model takes one image per run).
    const own = await ort.InferenceSession.create(path);
    const step = c.maxBatch ?? n;
    const ownLogits: number[] = [];
    const ownProbs: number[] = [];
    for (let i = 0; i < n; i += step) {
      const dims = c.input.layout === 'NCHW' ? [step, c.input.channels, c.input.height, c.input.width] : [step, c.input.height, c.input.width, c.input.channels];
      const out = await own.run({ [m.inputName]: new ort.Tensor('float32', x.slice(i * c.inputLength, (i + step) * c.inputLength), dims) });
      if (spec.logitsIsOutput ?? true) ownLogits.push(...(out[m.logitsName].data as Float32Array));
      if (spec.softmaxOutput) ownProbs.push(...(out.probs.data as Float32Array));
    }
    if (spec.logitsIsOutput ?? true) assert.ok(maxAbsDiff(ownLogits, r.logits) === 0, 'logits differ from the unmodified model');
    if (spec.softmaxOutput) {
      // Softmax of the returned logits equals the model's probs output.
      const probs = ownProbs;
      const C = c.head.numClasses;
      for (let i = 0; i < n; i++) {
        const row = Array.from(r.logits.subarray(i * C, (i + 1) * C));
        const mx = Math.max(...row);
        const e = row.map((v) => Math.exp(v - mx));
        const s = e.reduce((a, b) => a + b, 0);
        e.forEach((v, j) => assert.ok(Math.abs(v / s - probs[i * C + j]) < 1e-5));
      }
    }
    await own.release();
    assert.equal(c.features.tensor, m.featureTensor);
    if (expect.pooling) assert.equal(c.head.pooling.op, expect.pooling);
    if (expect.linear) assert.equal(c.head.linear.op, expect.linear);
    if (expect.folded) assert.deepEqual(c.head.foldedOps.map((f) => f.op), expect.folded);
    if (expect.layout) assert.equal(c.features.layout, expect.layout);
    const [H, W] = expect.grid ?? spec.inputSize ?? [6, 5];
    assert.deepEqual([c.features.H, c.features.W], [H, W]);
    assert.equal(c.features.D, spec.featureDim ?? 6);
    assert.equal(c.head.numClasses, spec.numClasses ?? 4);
    if (expect.nonNegative !== undefined) assert.equal(c.features.nonNegative, expect.nonNegative);
    if (expect.logitsIsGraphOutput !== undefined) assert.equal(c.logitsIsGraphOutput, expect.logitsIsGraphOutput);
  } finally {
    await c.close();
  }
  return c;
}

/** A test body that verifies one variant. */
const variant = (spec: HeadModelSpec, expect: Expect = {}) => async () => {
  await verify(spec, expect);
};

test('GlobalAveragePool + Flatten + Gemm (transB 1)', async () => {
  const c = await verify({ linear: { op: 'Gemm', transB: 1 } }, { pooling: 'GlobalAveragePool', linear: 'Gemm', folded: [], layout: 'NCHW', nonNegative: true });
  assert.equal(c.features.nonNegativeBy, "Relu 'backbone_relu'");
  assert.deepEqual(c.head.path.map((p) => p.op), ['GlobalAveragePool', 'Flatten', 'Gemm']);
});

test('Gemm transB 0 with alpha and beta', variant({ linear: { op: 'Gemm', transB: 0, alpha: 0.5, beta: 2 } }, { linear: 'Gemm' }));
test('Gemm without C', variant({ linear: { op: 'Gemm', transB: 1, bias: 'none' } }));
test('Gemm with a 1 x C bias row and alpha 2', variant({ linear: { op: 'Gemm', transB: 1, alpha: 2, bias: 'row' } }));
test('Gemm with a scalar bias', variant({ linear: { op: 'Gemm', transB: 0, beta: 0.25, bias: 'scalar' } }));

test('ReduceMean (axes attribute) keepdims 0 -> Gemm', variant({ pooling: 'ReduceMean', keepdims: 0, between: [], linear: { op: 'Gemm', transB: 1 } }, { pooling: 'ReduceMean' }));
test('ReduceMean (axes attribute) keepdims 1 -> Reshape [0, -1] -> Gemm', variant({ pooling: 'ReduceMean', keepdims: 1, between: [{ op: 'Reshape', shape: [0, -1] }], linear: { op: 'Gemm', transB: 0 } }));
test('ReduceMean (axes input, opset 18) keepdims 1 -> Squeeze -> MatMul + Add', async () => {
  const c = await verify({ pooling: 'ReduceMean', axesAs: 'input', keepdims: 1, between: [{ op: 'Squeeze' }], linear: { op: 'MatMul', bias: true } }, { linear: 'MatMul' });
  assert.equal(c.head.pooling.axesSource, 'input');
  assert.equal(c.opset, 18);
  assert.equal(c.head.linear.biasNode, 'fc_bias');
});
test('ReduceMean (axes input) keepdims 0 -> MatMul without bias', variant({ pooling: 'ReduceMean', axesAs: 'input', keepdims: 0, between: [], linear: { op: 'MatMul', bias: false } }));
test('ReduceMean with negative spatial axes', async () => {
  const c = await verify({ pooling: 'ReduceMean', negativeAxes: true, keepdims: 0, between: [] });
  assert.deepEqual(c.head.pooling.axes, [2, 3]);
});

test('NHWC model: ReduceMean over axes [1, 2] keepdims 0 -> Gemm', async () => {
  const c = await verify({ layout: 'NHWC', keepdims: 0, between: [] }, { layout: 'NHWC', pooling: 'ReduceMean' });
  assert.equal(c.input.layout, 'NHWC');
});
test('NHWC model: keepdims 1 -> Reshape [-1, D] -> Gemm', variant({ layout: 'NHWC', keepdims: 1, between: [{ op: 'Reshape', shape: [-1, 6] }] }, { layout: 'NHWC' }));

test('tokens N x T x D: ReduceMean over the token axis; T = 30 is not a square, so the grid is 1 x 30', async () => {
  const c = await verify({ layout: 'NTD', keepdims: 0, between: [] }, { layout: 'NTD', grid: [1, 30] });
  assert.deepEqual(c.features.tokenGrid, { tokens: 30, H: 1, W: 30, rule: 'row' });
});
test('tokens with a square count: T = 16 -> 4 x 4 grid; keepdims 1 -> MatMul + Add on N x 1 x D -> Squeeze', async () => {
  const c = await verify(
    { layout: 'NTD', inputSize: [4, 4], keepdims: 1, between: [], linear: { op: 'MatMul' }, after: [{ op: 'Squeeze', axes: [1] }] },
    { layout: 'NTD', grid: [4, 4] },
  );
  assert.equal(c.features.tokenGrid?.rule, 'square');
});

test('Dropout, Identity, Flatten and Squeeze between pooling and the linear layer', async () => {
  await verify({ between: [{ op: 'Dropout' }, { op: 'Identity' }, { op: 'Flatten' }] }, { folded: [] });
  await verify({ between: [{ op: 'Squeeze', axes: [2, 3] }, { op: 'Identity' }] }, { folded: [] });
  await verify({ between: [{ op: 'Flatten' }, { op: 'Unsqueeze', axes: [1] }, { op: 'Reshape', shape: [-1, 6] }] }, { folded: [] });
});

test('BatchNormalization folded, on N x D x 1 x 1 and on N x D', async () => {
  await verify({ between: [{ op: 'BatchNormalization' }, { op: 'Flatten' }] }, { folded: ['BatchNormalization'] });
  await verify({ between: [{ op: 'Flatten' }, { op: 'BatchNormalization' }] }, { folded: ['BatchNormalization'] });
});

test('Mul / Add / Sub / Div by scalar and per-channel constants, either operand order', async () => {
  const c = await verify(
    {
      between: [
        { op: 'Mul', per: 'axis' },
        { op: 'Add', per: 'scalar', constFirst: true },
        { op: 'Sub', per: 'axis', constFirst: true },
        { op: 'Div', per: 'axis', fullRank: true },
        { op: 'Flatten' },
        { op: 'Sub', per: 'scalar' },
        { op: 'Mul', per: 'scalar', constFirst: true, fullRank: true },
        { op: 'Add', per: 'axis' },
      ],
    },
    { folded: ['Mul', 'Add', 'Sub', 'Div', 'Sub', 'Mul', 'Add'] },
  );
  assert.deepEqual(c.head.foldedOps.map((f) => f.broadcast), ['per-channel', 'scalar', 'per-channel', 'per-channel', 'scalar', 'scalar', 'per-channel']);
});

test('per-class affine ops after the linear layer are folded; Softmax output kept', async () => {
  const c = await verify({ after: [{ op: 'Mul', per: 'axis' }, { op: 'Sub', per: 'scalar', constFirst: true }, { op: 'Div', per: 'scalar' }], softmaxOutput: true }, { folded: ['Mul', 'Sub', 'Div'] });
  assert.ok(c.head.foldedOps.every((f) => f.where === 'after-linear'));
});

test('a 1 x 1 Conv on the pooled map as the linear layer', variant({ between: [], linear: { op: 'Conv' }, after: [{ op: 'Flatten' }] }, { linear: 'Conv' }));

test('AveragePool whose kernel covers the whole map', variant({ pooling: 'AveragePool' }, { pooling: 'AveragePool' }));

test('logits that are not a graph output (only their Softmax is) become an extra session output', async () => {
  await verify({ logitsIsOutput: false, softmaxOutput: true }, { logitsIsGraphOutput: false });
});

test('without a ReLU before pooling the map is not non-negative by construction', async () => {
  const c = await verify({ activation: 'none' }, { nonNegative: false });
  assert.equal(c.features.nonNegativeBy, null);
});

test('Clip with min >= 0 before pooling makes the map non-negative; min < 0 does not (attribute and input forms)', async () => {
  const a = await verify({ activation: { clipMin: 0 } }, { nonNegative: true });
  assert.equal(a.features.nonNegativeBy, "Clip 'backbone_clip'");
  await verify({ activation: { clipMin: -0.5 } }, { nonNegative: false });
  await verify({ activation: { clipMin: 0 }, opset: 9 }, { nonNegative: true });
  await verify({ activation: { clipMin: -1 }, opset: 9 }, { nonNegative: false });
});

test('opset 11: Squeeze and Unsqueeze with axes as attributes', variant({ opset: 11, between: [{ op: 'Squeeze', axes: [3] }, { op: 'Unsqueeze', axes: [3] }, { op: 'Flatten' }] }));

test('a Reshape to [1, -1] in a dynamic-batch model fixes the batch to 1: runs are looped', async () => {
  const c = await verify({ between: [{ op: 'Reshape', shape: [1, -1] }] });
  assert.equal(c.maxBatch, 1);
});

test('a fixed batch of 1 lets Squeeze drop every singleton axis, the batch included', async () => {
  const c = await verify({ batch: 1, between: [{ op: 'Squeeze', axes: [0, 2, 3] }, { op: 'Unsqueeze', axes: [0] }] });
  assert.equal(c.maxBatch, 1);
});

test("PyTorch's x.view(x.size(0), -1) export: Reshape to Shape -> Gather -> Unsqueeze -> Concat after AveragePool", async () => {
  const D = 5, C = 3;
  const vals = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed + 1.7 * i));
  const model = buildModel({
    opset: 13,
    nodes: [
      node('Conv', ['input', 'cw'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
      node('Relu', ['c'], ['feat'], {}, 'relu'),
      node('AveragePool', ['feat'], ['pooled'], { kernel_shape: [4, 4] }, 'avgpool'),
      node('Shape', ['pooled'], ['shape'], {}, 'shape'),
      node('Gather', ['shape', 'zero'], ['n'], { axis: 0 }, 'gather'),
      node('Unsqueeze', ['n', 'axis0'], ['n1'], {}, 'unsqueeze'),
      node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }, 'concat'),
      node('Reshape', ['pooled', 'target'], ['flat'], {}, 'view'),
      node('Gemm', ['flat', 'fw', 'fb'], ['logits'], { transB: 1 }, 'fc'),
    ],
    inputs: [valueInfo('input', ['batch', 2, 4, 4])],
    outputs: [valueInfo('logits', ['batch', C])],
    initializers: [
      tensor('cw', [D, 2, 3, 3], vals(D * 18, 1)), tensor('fw', [C, D], vals(C * D, 2)), tensor('fb', [C], vals(C, 3)),
      int64Tensor('zero', [0], []), int64Tensor('axis0', [0]), int64Tensor('minus1', [-1]),
    ],
  });
  const c = await loadClassifier(writeModel(model));
  const r = await c.run(patternInput(3, c.inputLength), 3);
  await c.close();
  assert.deepEqual(c.head.path.map((p) => p.op), ['AveragePool', 'Reshape', 'Gemm']);
  assert.equal(c.maxBatch, null);
  assert.ok(maxAbsDiff(referenceLogits(r.features, 3, 16, D, c.head.W, c.head.b), r.logits) < 1e-5);
});
