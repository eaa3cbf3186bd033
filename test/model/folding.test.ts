// Folded heads against hand-written formulas over the constants the builder drew.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClassifier } from '../../src/model/classifier.ts';
import { composeAffine, foldHead } from '../../src/model/fold.ts';
import { buildHeadModel, type HeadModelSpec } from '../helpers/head-models.ts';
import { writeModel } from './fixtures.ts';

const D = 6;
const C = 4;

async function headOf(spec: HeadModelSpec) {
  const m = buildHeadModel(spec);
  const c = await loadClassifier(writeModel(m.model));
  await c.close();
  const k = (prefix: string) => [...m.constants.entries()].filter(([name]) => name.startsWith(prefix)).map(([, v]) => v);
  return { W: c.head.W, b: c.head.b, m, k };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `index ${i}: ${actual[i]} vs ${expected[i]}`);
}

test('Gemm transB 0, alpha 0.5, beta 2: W[c][d] = 0.5 B[d][c], b = 2 C', async () => {
  const { W, b, k } = await headOf({ linear: { op: 'Gemm', transB: 0, alpha: 0.5, beta: 2 } });
  const [B] = k('fc_w');
  const [bias] = k('fc_b');
  assert.deepEqual(B.dims, [D, C]);
  const expected = new Array(C * D);
  for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) expected[c * D + d] = 0.5 * B.data[d * C + c];
  close(W, expected);
  close(b, Array.from(bias.data, (v) => 2 * v));
});

test('Gemm transB 1 with a scalar C: every class gets beta * C', async () => {
  const { W, b, k } = await headOf({ linear: { op: 'Gemm', transB: 1, beta: 3, bias: 'scalar' } });
  close(W, k('fc_w')[0].data);
  close(b, new Array(C).fill(3 * k('fc_b')[0].data[0]));
});

test('BatchNormalization before the linear layer: W = W0 diag(a), b = b0 + W0 (beta - mean a), a = gamma / sqrt(var + eps)', async () => {
  const { W, b, k } = await headOf({ between: [{ op: 'Flatten' }, { op: 'BatchNormalization' }], linear: { op: 'Gemm', transB: 1 } });
  const [g] = k('bn_scale'), [beta] = k('bn_bias'), [mean] = k('bn_mean'), [v] = k('bn_var');
  const [W0] = k('fc_w'), [b0] = k('fc_b');
  const a = Array.from(g.data, (x, i) => x / Math.sqrt(v.data[i] + 1e-3));
  const t = a.map((ai, i) => beta.data[i] - mean.data[i] * ai);
  const eW = new Array(C * D), eb = new Array(C);
  for (let c = 0; c < C; c++) {
    eb[c] = b0.data[c];
    for (let d = 0; d < D; d++) {
      eW[c * D + d] = W0.data[c * D + d] * a[d];
      eb[c] += W0.data[c * D + d] * t[d];
    }
  }
  close(W, eW);
  close(b, eb);
});

test('constant minus features (Sub with the constant first) negates W and adds W0 * c to b', async () => {
  const { W, b, k } = await headOf({ between: [{ op: 'Flatten' }, { op: 'Sub', per: 'scalar', constFirst: true }], linear: { op: 'Gemm', transB: 1 } });
  const s = k('sub_c')[0].data[0];
  const [W0] = k('fc_w'), [b0] = k('fc_b');
  close(W, Array.from(W0.data, (w) => -w));
  close(b, Array.from(b0.data, (bc, c) => bc + s * W0.data.slice(c * D, (c + 1) * D).reduce((x, y) => x + y, 0)));
});

test('Div by per-channel constants divides the columns of W', async () => {
  const { W, b, k } = await headOf({ between: [{ op: 'Div', per: 'axis' }, { op: 'Flatten' }], linear: { op: 'Gemm', transB: 1 } });
  const v = k('div_c')[0];
  assert.deepEqual(v.dims, [D, 1, 1]);
  const [W0] = k('fc_w'), [b0] = k('fc_b');
  close(W, Array.from(W0.data, (w, i) => w / v.data[i % D]));
  close(b, b0.data);
});

test('per-class Mul after the linear layer scales rows of W and b', async () => {
  const { W, b, k } = await headOf({ after: [{ op: 'Mul', per: 'axis' }] });
  const s = k('mul_c')[0];
  assert.deepEqual(s.dims, [C]);
  const [W0] = k('fc_w'), [b0] = k('fc_b');
  close(W, Array.from(W0.data, (w, i) => w * s.data[Math.floor(i / D)]));
  close(b, Array.from(b0.data, (x, c) => x * s.data[c]));
});

test('composeAffine: ((x * 2) + 3), then 10 - y, gives -2 x + 7', () => {
  const { scale, shift } = composeAffine(
    [
      { kind: 'mul', values: Float64Array.of(2), source: 'm' },
      { kind: 'add', values: Float64Array.of(3), source: 'a' },
      { kind: 'rsub', values: Float64Array.of(10), source: 's' },
    ],
    2,
    'channels',
  );
  assert.deepEqual(Array.from(scale), [-2, -2]);
  assert.deepEqual(Array.from(shift), [7, 7]);
});

test('foldHead rejects a per-channel constant whose length is not D, naming the op', () => {
  assert.throws(
    () => foldHead([{ kind: 'mul', values: Float64Array.of(1, 2, 3), source: "Mul 'scale'" }], { W: new Float64Array(8), b: new Float64Array(2), C: 2, D: 4 }, []),
    /Mul 'scale' has 3 values, but the head has 4 feature channels/,
  );
});
