// Every way a model can be unusable, and the message each gives: it must name the right thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { DataType } from '../../src/onnx/proto.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { buildHeadModel } from '../helpers/head-models.ts';
import { CheckError, InputError } from '../../src/util/errors.ts';
import { tempDir, writeModel } from './fixtures.ts';

const D = 4;
const C = 3;
const w = (name: string, dims: number[], seed: number) => tensor(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed + i)));

/** input (N x 2 x 5 x 5) -> conv 3x3 pad 1 -> relu 'feat', then the given nodes. */
function model(nodes: ReturnType<typeof node>[], outputs: string[], inits: ReturnType<typeof tensor>[] = [], inputShape: (number | string)[] = ['N', 2, 5, 5], extraInputs: ReturnType<typeof valueInfo>[] = []) {
  return buildModel({
    nodes: [node('Conv', ['input', 'cw'], ['conv'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'), node('Relu', ['conv'], ['feat'], {}, 'relu'), ...nodes],
    inputs: [valueInfo('input', inputShape), ...extraInputs],
    outputs: outputs.map((o) => valueInfo(o, null)),
    initializers: [w('cw', [D, 2, 3, 3], 0), ...inits],
  });
}

function rejectsWith(p: Promise<unknown>, type: typeof InputError | typeof CheckError, ...patterns: RegExp[]) {
  return assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e.name}: ${e.message}`);
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

test('a missing file and a directory are InputErrors naming the path', async () => {
  const d = tempDir();
  await rejectsWith(loadClassifier(join(d, 'nope.onnx')), InputError, /cannot read model '.*nope\.onnx': no such file/);
  await rejectsWith(loadClassifier(d), InputError, /it is a directory/);
});

test('a file that is not ONNX (text, empty) is an InputError naming the file and the reason', async () => {
  const d = tempDir();
  writeFileSync(join(d, 'notes.onnx'), 'this is not a protobuf\n');
  writeFileSync(join(d, 'empty.onnx'), new Uint8Array(0));
  await rejectsWith(loadClassifier(join(d, 'notes.onnx')), InputError, /'.*notes\.onnx' is not a readable ONNX model: .+/);
  await rejectsWith(loadClassifier(join(d, 'empty.onnx')), InputError, /'.*empty\.onnx' is not a readable ONNX model: it decodes to no graph \(0 bytes\)/);
});

test('no pooling at all: the error lists the last nodes (op, name, inputs, outputs)', async () => {
  const p = writeModel(model([node('Flatten', ['feat'], ['flat'], { axis: 1 }, 'flatten'), node('Gemm', ['flat', 'fw'], ['logits'], { transB: 1 }, 'fc')], ['logits'], [w('fw', [C, D * 25], 1)]));
  await rejectsWith(loadClassifier(p), InputError, /no GAP \+ linear head: the graph has no GlobalAveragePool/, /Last 4 nodes of the graph:/, /Conv 'conv' \(input, cw\) -> \(conv\)/, /Gemm 'fc' \(flat, fw\) -> \(logits\)/);
});

test('pooling without a linear layer after it: no head, and why', async () => {
  const p = writeModel(model([node('GlobalAveragePool', ['feat'], ['pooled'], {}, 'gap'), node('Flatten', ['pooled'], ['emb'], { axis: 1 }, 'flat')], ['emb']));
  await rejectsWith(loadClassifier(p), InputError, /no GAP \+ linear head among 1 pooling op/, /Flatten 'flat' \(pooled\) -> \(emb\)/);
});

test('a non-linear op between pooling and the linear layer is named', async () => {
  const m = buildHeadModel({ between: [{ op: 'Flatten' }, { op: 'Relu' }] });
  await rejectsWith(loadClassifier(writeModel(m.model)), InputError, new RegExp(`non-linear op between GlobalAveragePool 'pool' and Gemm 'fc': Relu '${m.opNames.between[1]}' is not a linear op`));
  const s = buildHeadModel({ between: [{ op: 'Sigmoid' }, { op: 'Flatten' }] });
  await rejectsWith(loadClassifier(writeModel(s.model)), InputError, /Sigmoid 'sigmoid_\d+' is not a linear op/);
});

test('features multiplied by a computed tensor (not a constant) are not a linear head', async () => {
  const p = writeModel(
    model(
      [
        node('GlobalAveragePool', ['feat'], ['pooled'], {}, 'gap'),
        node('Sigmoid', ['pooled'], ['gate'], {}, 'gate'),
        node('Mul', ['pooled', 'gate'], ['gated'], {}, 'gating'),
        node('Flatten', ['gated'], ['flat'], { axis: 1 }, 'flat'),
        node('Gemm', ['flat', 'fw'], ['logits'], { transB: 1 }, 'fc'),
      ],
      ['logits'],
      [w('fw', [C, D], 2)],
    ),
  );
  await rejectsWith(loadClassifier(p), InputError, /Mul 'gating' combines the features with the computed tensor 'gate'/);
});

test('an MLP head (linear, ReLU, linear) is not a GAP + linear head: the ReLU after the first layer is named', async () => {
  const p = writeModel(
    model(
      [
        node('GlobalAveragePool', ['feat'], ['pooled'], {}, 'gap'),
        node('Flatten', ['pooled'], ['flat'], { axis: 1 }, 'flat'),
        node('Gemm', ['flat', 'w1'], ['hidden'], { transB: 1 }, 'fc1'),
        node('Relu', ['hidden'], ['act'], {}, 'fc1_relu'),
        node('Gemm', ['act', 'w2'], ['logits'], { transB: 1 }, 'fc2'),
      ],
      ['logits'],
      [w('w1', [5, D], 3), w('w2', [C, 5], 4)],
    ),
  );
  await rejectsWith(loadClassifier(p), InputError, /GlobalAveragePool 'gap' -> Gemm 'fc1': its output 'hidden' reaches no graph output except through Relu 'fc1_relu'/);
});

const twoHeads = () =>
  model(
    [
      node('GlobalAveragePool', ['feat'], ['pooled'], {}, 'gap'),
      node('Flatten', ['pooled'], ['flat'], { axis: 1 }, 'flat'),
      node('Gemm', ['flat', 'wa'], ['logits_a'], { transB: 1 }, 'fc_a'),
      node('Gemm', ['flat', 'wb', 'bb'], ['logits_b'], { transB: 1 }, 'fc_b'),
    ],
    ['logits_a', 'logits_b'],
    [w('wa', [C, D], 5), w('wb', [2, D], 6), w('bb', [2], 7)],
  );

test('several candidate heads (two outputs) are listed; logitsOutput picks one', async () => {
  const p = writeModel(twoHeads());
  await rejectsWith(loadClassifier(p), InputError, /several candidate GAP \+ linear heads/, /1\. GlobalAveragePool 'gap' -> Gemm 'fc_a' -> logits 'logits_a'/, /2\. GlobalAveragePool 'gap' -> Gemm 'fc_b' -> logits 'logits_b'/, /--logits-output/);
  const c = await loadClassifier(p, { logitsOutput: 'logits_b' });
  await c.close();
  assert.equal(c.head.linear.node, 'fc_b');
  assert.equal(c.head.numClasses, 2);
  assert.deepEqual(Array.from(c.head.b), [Math.fround(Math.sin(7)), Math.fround(Math.sin(8))]);
});

test('logitsOutput naming no tensor lists the graph outputs', async () => {
  await rejectsWith(loadClassifier(writeModel(twoHeads()), { logitsOutput: 'scores' }), InputError, /logits output 'scores' is not a tensor of the model; its graph outputs are: 'logits_a', 'logits_b'/);
});

test('a squeeze-excitation GAP inside the backbone is passed over; the real head is found', async () => {
  // SE block: GAP -> 1x1 conv -> ReLU -> 1x1 conv -> Sigmoid -> scale the map; then the head.
  const p = writeModel(
    model(
      [
        node('GlobalAveragePool', ['feat'], ['se_pool'], {}, 'se_gap'),
        node('Conv', ['se_pool', 'se_w1'], ['se_h'], { kernel_shape: [1, 1] }, 'se_reduce'),
        node('Relu', ['se_h'], ['se_a'], {}, 'se_relu'),
        node('Conv', ['se_a', 'se_w2'], ['se_g'], { kernel_shape: [1, 1] }, 'se_expand'),
        node('Sigmoid', ['se_g'], ['se_s'], {}, 'se_sigmoid'),
        node('Mul', ['feat', 'se_s'], ['scaled'], {}, 'se_scale'),
        node('Relu', ['scaled'], ['feat2'], {}, 'relu2'),
        node('GlobalAveragePool', ['feat2'], ['pooled'], {}, 'gap'),
        node('Flatten', ['pooled'], ['flat'], { axis: 1 }, 'flat'),
        node('Gemm', ['flat', 'fw', 'fb'], ['logits'], { transB: 1 }, 'fc'),
      ],
      ['logits'],
      [w('se_w1', [2, D, 1, 1], 8), w('se_w2', [D, 2, 1, 1], 9), w('fw', [C, D], 10), w('fb', [C], 11)],
    ),
  );
  const c = await loadClassifier(p);
  await c.close();
  assert.equal(c.head.pooling.node, 'gap');
  assert.equal(c.features.tensor, 'feat2');
  assert.equal(c.features.nonNegativeBy, "Relu 'relu2'");
});

test('a model with two inputs, or a non-float input, is refused naming the inputs', async () => {
  const two = model([node('GlobalAveragePool', ['feat'], ['p'], {}, 'gap'), node('Flatten', ['p'], ['f'], {}, 'fl'), node('Gemm', ['f', 'fw'], ['logits'], { transB: 1 }, 'fc')], ['logits'], [w('fw', [C, D], 1)], ['N', 2, 5, 5], [valueInfo('mask', ['N', 1])]);
  await rejectsWith(loadClassifier(writeModel(two)), InputError, /has 2 inputs \('input', 'mask'\); protolens expects exactly one image input/);
  const u8 = buildModel({
    nodes: [node('Cast', ['input'], ['x'], { to: DataType.FLOAT }, 'cast'), node('GlobalAveragePool', ['x'], ['p'], {}, 'gap'), node('Flatten', ['p'], ['f'], {}, 'fl'), node('Gemm', ['f', 'fw'], ['logits'], { transB: 1 }, 'fc')],
    inputs: [valueInfo('input', ['N', 2, 5, 5], DataType.UINT8)],
    outputs: [valueInfo('logits', null)],
    initializers: [w('fw', [C, 2], 1)],
  });
  await rejectsWith(loadClassifier(writeModel(u8)), InputError, /input 'input' has element type uint8; protolens feeds float32 images/);
});

test('a fixed-size model asked for another size names the size that works', async () => {
  const p = writeModel(buildHeadModel({ inputSize: [6, 5] }).model);
  await rejectsWith(loadClassifier(p, { inputSize: 8 }), InputError, /input 'input' has a fixed size of 6 x 5, so it cannot run at 8 x 8; sizes that work: 6 x 5/);
  await rejectsWith(loadClassifier(p, { inputSize: [6, 0] as [number, number] }), InputError, /inputSize: expected positive integers/);
});

test('a size onnxruntime cannot run is an InputError with the size and the engine\'s reason', async () => {
  // 3x3 conv without padding: a 2 x 2 input is too small.
  const m = buildModel({
    nodes: [
      node('Conv', ['input', 'cw'], ['c'], { kernel_shape: [3, 3] }, 'conv'),
      node('Relu', ['c'], ['feat'], {}, 'relu'),
      node('GlobalAveragePool', ['feat'], ['p'], {}, 'gap'),
      node('Flatten', ['p'], ['f'], {}, 'flat'),
      node('Gemm', ['f', 'fw'], ['logits'], { transB: 1 }, 'fc'),
    ],
    inputs: [valueInfo('input', ['N', 2, 'H', 'W'])],
    outputs: [valueInfo('logits', null)],
    initializers: [w('cw', [D, 2, 3, 3], 0), w('fw', [C, D], 1)],
  });
  const p = writeModel(m);
  await rejectsWith(loadClassifier(p, { inputSize: 2 }), InputError, /onnxruntime could not run model '.*' on a 2 x 2 input \(from inputSize\): .+; the model declares no fixed size \(input 'input' is \[N, 2, H, W\]\)/);
  const ok = await loadClassifier(p, { inputSize: 5 });
  assert.deepEqual([ok.features.H, ok.features.W], [3, 3]);
  await ok.close();
});

test('an AveragePool whose kernel does not cover the map at the chosen size is not global pooling', async () => {
  const p = writeModel(buildHeadModel({ pooling: 'AveragePool', dynamicSpatial: true, inputSize: [6, 5] }).model);
  // At 8 x 8 the pool leaves a 3 x 4 map and the Gemm after it fails in the engine.
  await rejectsWith(loadClassifier(p, { inputSize: 8 }), InputError, /on a 8 x 8 input/, /AveragePool 'pool' has a fixed 6 x 5 kernel, so only input sizes giving a 6 x 5 feature map make it a global average pooling/);
  // Channels-last MatMul runs on any map the pool leaves (7 x 6 at 12 x 10): the kernel check catches it.
  const hidden = buildHeadModel({ pooling: 'AveragePool', dynamicSpatial: true, inputSize: [6, 5], between: [{ op: 'Transpose', perm: [0, 2, 3, 1] }], linear: { op: 'MatMul' } });
  const ok = await loadClassifier(writeModel(hidden.model), { inputSize: [6, 5] });
  await ok.close();
  await rejectsWith(loadClassifier(writeModel(hidden.model), { inputSize: [12, 10] }), InputError, /AveragePool 'pool' has a 6 x 5 kernel but the feature map is 12 x 10 at input size 12 x 10/);
});

test('a logit check above tolerance is a CheckError giving the measured error', async () => {
  const p = writeModel(buildResNetLike({ seed: 2 }).model);
  await rejectsWith(loadClassifier(p, { tolerance: 1e-15 }), CheckError, /linear\(GAP\(features\)\) does not reproduce the logits 'logits': relative error \d\.\d+e-\d+ \(max \|diff\| .* \/ max\(max \|W · GAP\(x\)\| .*\)\) > tolerance 1e-15 on 2 random normal \(seed 0\) input\(s\)/);
});

test('a model with an infinite logit fails the logit check, naming the image and class (it passed before)', async () => {
  const gemm = (bias: number[]) =>
    writeModel(
      model(
        [node('GlobalAveragePool', ['feat'], ['pool'], {}, 'gap'), node('Flatten', ['pool'], ['flat'], {}, 'flatten'), node('Gemm', ['flat', 'fw', 'fb'], ['logits'], { transB: 1 }, 'fc')],
        ['logits'],
        [w('fw', [C, D], 3), tensor('fb', [C], bias)],
      ),
    );
  await loadClassifier(gemm([0.1, 0.2, 0.3])); // the same head with a finite bias loads
  await rejectsWith(loadClassifier(gemm([0.1, Infinity, 0.3])), CheckError, /a value is not finite \(image 0, class 1: the model's logit Infinity/);
  await rejectsWith(loadClassifier(gemm([NaN, 0.2, 0.3])), CheckError, /not finite \(image 0, class 0/);
});

test('run() with the wrong input length names the expected shape; checkHead on supplied input reports it', async () => {
  const c = await loadClassifier(writeModel(buildResNetLike({ seed: 2 }).model));
  await rejectsWith(c.run(new Float32Array(10), 1), InputError, /run: input has 10 values; 1 image\(s\) of 3 x 32 x 32 \(NCHW\) need 3072/);
  const check = await c.checkHead(new Float32Array(2 * c.inputLength).fill(0.5), 2);
  assert.equal(check.input, 'supplied');
  assert.equal(check.seed, null);
  assert.ok(check.relError < 1e-5);
  await c.close();
});

test('the logit check batch is bounded: more than 256 random inputs is a usage error, not an allocation until onnxruntime fails', async () => {
  const { UsageError } = await import('../../src/util/errors.ts');
  const p = writeModel(buildResNetLike({ seed: 2 }).model);
  await assert.rejects(loadClassifier(p, { checkBatch: 100000 }), (e: Error) => e instanceof UsageError && /checkBatch: expected an integer from 1 to 256, got 100000/.test(e.message));
  const c = await loadClassifier(p, { checkBatch: 256 });
  assert.equal(c.headCheck.batch, 256);
  await c.close();
});
