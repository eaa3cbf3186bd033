// Heads that torchvision-style exports produce and that are GAP + linear in disguise (or are not, for a
// reason the refusal must name), through the real adapter and onnxruntime: each accepted head must pass
// the logit check, which compares W * mean(x) + b with the model's own logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { DataType } from '../../src/onnx/proto.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { InputError } from '../../src/util/errors.ts';
import { writeModel } from './fixtures.ts';

const D = 4;
const C = 3;
const w = (name: string, dims: number[], seed: number) => tensor(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed + i * 1.7)));
const i64 = (name: string, values: number[], dims: number[] = [values.length]) => tensor(name, dims, values, DataType.INT64);

/** input (N x 2 x S x S) -> conv 3x3 pad 1 (D channels) -> relu 'feat', then the given nodes. */
function model(nodes: ReturnType<typeof node>[], outputs: string[], inits: ReturnType<typeof tensor>[] = [], size = 7, opset = 17) {
  return writeModel(
    buildModel({
      nodes: [node('Conv', ['input', 'cw'], ['conv'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'), node('Relu', ['conv'], ['feat'], {}, 'relu'), ...nodes],
      inputs: [valueInfo('input', ['N', 2, size, size])],
      outputs: outputs.map((o) => valueInfo(o, null)),
      initializers: [w('cw', [D, 2, 3, 3], 0), ...inits],
      opset,
    }),
  );
}

const gemm = (input: string, out = 'logits', name = 'fc', weight = 'fw', bias = 'fb') => node('Gemm', [input, weight, bias], [out], { transB: 1 }, name);
const fc = [w('fw', [C, D], 3), w('fb', [C], 5)];

async function accepted(path: string, check: (c: Awaited<ReturnType<typeof loadClassifier>>) => void = () => undefined) {
  const c = await loadClassifier(path);
  try {
    assert.ok(c.headCheck.relError <= 1e-4, `logit check ${c.headCheck.relError}`);
    check(c);
  } finally {
    await c.close();
  }
}

test('x.view(input.size(0), -1): the batch size read from another tensor than the pooled one', async () => {
  await accepted(
    model(
      [
        node('GlobalAveragePool', ['feat'], ['pool'], {}, 'gap'),
        node('Shape', ['input'], ['in_shape'], {}, 'shape'),
        node('Gather', ['in_shape', 'zero'], ['n'], { axis: 0 }, 'gather'),
        node('Unsqueeze', ['n', 'ax0'], ['n1'], {}, 'unsq'),
        node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }, 'concat'),
        node('Reshape', ['pool', 'target'], ['flat'], {}, 'view'),
        gemm('flat'),
      ],
      ['logits'],
      [i64('zero', [0], []), i64('ax0', [0]), i64('minus1', [-1]), ...fc],
    ),
    (c) => assert.equal(c.head.numClasses, C),
  );
});

test('x.sum((2, 3)) / 49 and x.sum((2, 3)) * 0.5: a sum over positions is a scaled mean, folded into W', async () => {
  for (const [op, value] of [['Div', 49], ['Mul', 0.5]] as const) {
    await accepted(
      model([node('ReduceSum', ['feat', 'axes'], ['s'], { keepdims: 0 }, 'sum'), node(op, ['s', 'k'], ['pool'], {}, 'scale'), gemm('pool')], ['logits'], [i64('axes', [2, 3]), tensor('k', [], [value]), ...fc]),
      (c) => assert.equal(c.head.pooling.op, 'ReduceSum'),
    );
  }
});

test('x.mean(3).mean(2) and x.mean(-1).mean(-1) keeping dims: two means over the spatial axes are one', async () => {
  await accepted(
    model([node('ReduceMean', ['feat'], ['m3'], { axes: [3], keepdims: 0 }, 'mean3'), node('ReduceMean', ['m3'], ['pool'], { axes: [2], keepdims: 0 }, 'mean2'), gemm('pool')], ['logits'], fc),
    (c) => assert.deepEqual([c.head.pooling.node, c.features.tensor], ['mean2', 'feat']),
  );
  await accepted(
    model(
      [node('ReduceMean', ['feat'], ['m3'], { axes: [-1], keepdims: 1 }, 'mean3'), node('ReduceMean', ['m3'], ['m2'], { axes: [-2], keepdims: 1 }, 'mean2'), node('Flatten', ['m2'], ['pool'], { axis: 1 }, 'flat'), gemm('pool')],
      ['logits'],
      fc,
    ),
  );
});

test('Linear -> Linear with no activation between (a product of linear maps) is folded into one W and b', async () => {
  await accepted(
    model(
      [
        node('GlobalAveragePool', ['feat'], ['pool'], {}, 'gap'),
        node('Flatten', ['pool'], ['flat'], { axis: 1 }, 'flatten'),
        gemm('flat', 'hidden', 'fc1', 'w1', 'b1'),
        node('Dropout', ['hidden'], ['hd'], {}, 'drop'),
        gemm('hd', 'logits', 'fc2', 'w2', 'b2'),
      ],
      ['logits'],
      [w('w1', [6, D], 7), w('b1', [6], 8), w('w2', [C, 6], 9), w('b2', [C], 10)],
    ),
    (c) => assert.deepEqual([c.head.numClasses, c.head.featureDim], [C, D]),
  );
});

/** Rejects with an InputError whose reason lines are not empty and match every pattern, the first reason first. */
async function refused(path: string, ...patterns: RegExp[]) {
  await assert.rejects(loadClassifier(path), (e: Error) => {
    assert.ok(e instanceof InputError, `expected InputError, got ${e.name}: ${e.message}`);
    assert.ok(!/:\n\s*\n|:\nLast/.test(e.message), `an empty reason list:\n${e.message}`);
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

test('a classifier before the pooling (SqueezeNet: Conv -> ReLU -> GAP -> Flatten -> output) is refused with the reason', async () => {
  await refused(
    model([node('Conv', ['feat', 'cls'], ['c'], { kernel_shape: [1, 1] }, 'classifier'), node('Relu', ['c'], ['cr'], {}, 'cls_relu'), node('GlobalAveragePool', ['cr'], ['pool'], {}, 'gap'), node('Flatten', ['pool'], ['logits'], { axis: 1 }, 'flatten')], ['logits'], [w('cls', [C, D, 1, 1], 11)]),
    /GlobalAveragePool 'gap' .*reaches graph output 'logits' with no linear layer after the pooling/,
    /classifier .*before the pooling/,
  );
});

test('a non-global AveragePool over the map (Flatten of a 2 x 2 result into the linear layer) is an InputError naming the kernel and the map', async () => {
  await refused(
    model(
      [node('AveragePool', ['feat'], ['pool'], { kernel_shape: [4, 4], strides: [4, 4] }, 'avgpool'), node('Flatten', ['pool'], ['flat'], { axis: 1 }, 'flatten'), gemm('flat', 'logits', 'fc', 'fw4')],
      ['logits'],
      [w('fw4', [C, 4 * D], 3), w('fb', [C], 5)],
      8,
    ),
    /AveragePool 'avgpool' has a 4 x 4 kernel but the feature map is 8 x 8/,
  );
});

test('a LayerNorm after the pooling (ConvNeXt) is named as the reason, not the linear layer', async () => {
  await refused(
    model([node('GlobalAveragePool', ['feat'], ['pool'], {}, 'gap'), node('Flatten', ['pool'], ['flat'], { axis: 1 }, 'flatten'), node('LayerNormalization', ['flat', 'ln_s', 'ln_b'], ['ln'], { axis: -1 }, 'norm'), gemm('ln')], ['logits'], [w('ln_s', [D], 1), w('ln_b', [D], 2), ...fc]),
    /LayerNormalization 'norm' .*normalises the pooled vector by its own mean and variance/,
  );
});

test('the route nearest the output is given first: squeeze-excitation poolings inside the backbone come after the head\'s own reason (MobileNetV3)', async () => {
  const se = (i: number, x: string): ReturnType<typeof node>[] => [
    node('GlobalAveragePool', [x], [`se${i}_p`], {}, `se${i}_gap`),
    node('Conv', [`se${i}_p`, `se${i}_w`], [`se${i}_c`], { kernel_shape: [1, 1] }, `se${i}_fc`),
    node('HardSigmoid', [`se${i}_c`], [`se${i}_g`], {}, `se${i}_gate`),
    node('Mul', [x, `se${i}_g`], [`se${i}_out`], {}, `se${i}_scale`),
  ];
  const nodes = [...se(1, 'feat'), ...se(2, 'se1_out'), ...se(3, 'se2_out'), node('GlobalAveragePool', ['se3_out'], ['pool'], {}, 'avgpool'), node('Flatten', ['pool'], ['flat'], { axis: 1 }, 'flatten'), gemm('flat', 'h', 'fc1', 'w1', 'b1'), node('HardSwish', ['h'], ['hs'], {}, 'act'), gemm('hs', 'logits', 'fc2', 'w2', 'b2')];
  const inits = [1, 2, 3].map((i) => w(`se${i}_w`, [D, D, 1, 1], 20 + i));
  await assert.rejects(loadClassifier(model(nodes, ['logits'], [...inits, w('w1', [6, D], 7), w('b1', [6], 8), w('w2', [C, 6], 9), w('b2', [C], 10)], 7, 17)), (e: Error) => {
    assert.ok(e instanceof InputError, e.message);
    const reasons = e.message.split('\n').filter((l) => l.startsWith('  - '));
    assert.ok(reasons.length >= 1, e.message);
    assert.match(reasons[0], /HardSwish 'act'/, `first reason:\n${e.message}`);
    return true;
  });
});

test('non-negativity is seen through a Concat of ReLU branches (Inception) and a zero Pad', async () => {
  await accepted(
    model(
      [
        node('Conv', ['input', 'cw2'], ['conv2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv2'),
        node('Relu', ['conv2'], ['feat2'], {}, 'relu2'),
        node('Concat', ['feat', 'feat2'], ['cat'], { axis: 1 }, 'concat'),
        node('Pad', ['cat', 'pads', 'zero_f'], ['padded'], { mode: 'constant' }, 'pad'),
        node('GlobalAveragePool', ['padded'], ['pool'], {}, 'gap'),
        node('Flatten', ['pool'], ['flat'], { axis: 1 }, 'flatten'),
        gemm('flat', 'logits', 'fc', 'fw8'),
      ],
      ['logits'],
      [w('cw2', [D, 2, 3, 3], 4), i64('pads', [0, 0, 1, 1, 0, 0, 1, 1]), tensor('zero_f', [], [0]), w('fw8', [C, 2 * D], 3), w('fb', [C], 5)],
    ),
    (c) => {
      assert.equal(c.features.nonNegative, true);
      assert.match(c.features.nonNegativeBy ?? '', /Relu/);
    },
  );
});
