import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initWasmBackend } from '../../../tools/demo-model/wasm-backend.ts';
import { planFilterGrad } from '../../../tools/demo-model/conv2d-backprop-filter.ts';
import { planPhases } from '../../../tools/demo-model/conv2d-backprop-input.ts';
import { Rng } from '../../../src/util/random.ts';

function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

type Pad = 'same' | 'valid' | number;
interface Case { b: number; h: number; w: number; ci: number; co: number; k: [number, number]; s: [number, number]; pad: Pad }

const cases: Case[] = [
  { b: 3, h: 9, w: 9, ci: 2, co: 4, k: [3, 3], s: [1, 1], pad: 'same' },
  { b: 4, h: 8, w: 8, ci: 3, co: 5, k: [3, 3], s: [2, 2], pad: 'same' }, // TF 'same', asymmetric (0 top, 1 bottom)
  { b: 2, h: 9, w: 7, ci: 3, co: 2, k: [3, 3], s: [2, 2], pad: 'same' }, // odd sizes: symmetric 'same'
  { b: 2, h: 8, w: 8, ci: 2, co: 3, k: [3, 3], s: [2, 2], pad: 'valid' }, // last row/col never read
  { b: 2, h: 11, w: 10, ci: 4, co: 3, k: [5, 3], s: [3, 2], pad: 'valid' },
  { b: 1, h: 7, w: 12, ci: 1, co: 2, k: [2, 4], s: [1, 3], pad: 'same' },
  { b: 2, h: 6, w: 6, ci: 2, co: 2, k: [3, 3], s: [2, 2], pad: 1 }, // explicit symmetric padding
  { b: 2, h: 7, w: 7, ci: 2, co: 3, k: [1, 1], s: [3, 3], pad: 'valid' }, // phases with no taps: zero rows
  { b: 2, h: 10, w: 10, ci: 2, co: 2, k: [3, 3], s: [4, 4], pad: 'same' }, // stride > kernel
  { b: 5, h: 16, w: 16, ci: 8, co: 16, k: [3, 3], s: [2, 2], pad: 'same' },
];

function outShapeOf(c: Case): [number, number, number, number] {
  const conv = tf.backend_util.computeConv2DInfo([c.b, c.h, c.w, c.ci], [c.k[0], c.k[1], c.ci, c.co], c.s, 1, c.pad);
  return [c.b, conv.outHeight, conv.outWidth, c.co];
}

/** Run one kernel on the named backend and read the result. */
function runOn(backend: string, kernel: string, inputs: Record<string, { v: Float32Array; shape: number[] }>, attrs: Record<string, unknown>, expectShape: number[]): Float32Array {
  tf.setBackend(backend);
  assert.equal(tf.getBackend(), backend);
  const buffersBefore = tf.engine().backend.numDataIds();
  const result = tf.tidy(() => {
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, { v, shape }] of Object.entries(inputs)) ins[k] = tf.tensor(v, shape);
    const out = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as tf.Tensor;
    assert.deepEqual(out.shape, expectShape);
    return out.dataSync() as Float32Array;
  });
  // every intermediate of the kernel was released
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore, `${kernel} on ${backend} left buffers behind`);
  return result;
}

function assertClose(ref: Float32Array, got: Float32Array, what: string): void {
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  assert.ok(maxRef > 0.1, `${what}: reference is trivial`);
  assert.ok(maxDiff <= 1e-4 * Math.max(1, maxRef), `${what}: max |diff| ${maxDiff} (max |ref| ${maxRef})`);
}

test('wasm backend: SIMD build loaded, missing/slow gradient kernels registered', async () => {
  const info = await initWasmBackend();
  assert.equal(info.backend, 'wasm');
  assert.equal(info.simd, true);
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  assert.ok((tf.getKernel('Conv2DBackpropInput', 'wasm') as { viaConv?: boolean }).viaConv);
});

test('Conv2DBackpropFilter via forward conv (wasm) equals the cpu backend kernel', async () => {
  await initWasmBackend();
  const rng = new Rng(7);
  try {
    for (const c of cases) {
      const dyShape = outShapeOf(c);
      const x = { v: randn(rng, c.b * c.h * c.w * c.ci), shape: [c.b, c.h, c.w, c.ci] };
      const dy = { v: randn(rng, dyShape.reduce((a, b) => a * b, 1)), shape: dyShape };
      const filterShape = [c.k[0], c.k[1], c.ci, c.co];
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape };
      const ref = runOn('cpu', 'Conv2DBackpropFilter', { x, dy }, attrs, filterShape);
      const got = runOn('wasm', 'Conv2DBackpropFilter', { x, dy }, attrs, filterShape);
      assertClose(ref, got, `filter grad ${JSON.stringify(c)}`);
    }
  } finally {
    await tf.setBackend('wasm');
  }
});

test('Conv2DBackpropInput via per-phase forward convs (wasm) equals the cpu backend kernel', async () => {
  await initWasmBackend();
  const rng = new Rng(8);
  try {
    for (const c of cases) {
      const dyShape = outShapeOf(c);
      const inputShape = [c.b, c.h, c.w, c.ci];
      const dy = { v: randn(rng, dyShape.reduce((a, b) => a * b, 1)), shape: dyShape };
      const filter = { v: randn(rng, c.k[0] * c.k[1] * c.ci * c.co), shape: [c.k[0], c.k[1], c.ci, c.co] };
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape };
      const ref = runOn('cpu', 'Conv2DBackpropInput', { dy, filter }, attrs, inputShape);
      const got = runOn('wasm', 'Conv2DBackpropInput', { dy, filter }, attrs, inputShape);
      assertClose(ref, got, `input grad ${JSON.stringify(c)}`);
    }
  } finally {
    await tf.setBackend('wasm');
  }
});

test('gradients of a conv through tf.grad on wasm match cpu and a finite difference', async () => {
  await initWasmBackend();
  const rng = new Rng(11);
  const xv = randn(rng, 2 * 8 * 8 * 3);
  const wv = randn(rng, 3 * 3 * 3 * 4);
  const loss = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same').square().sum();
  const gradsOn = (backend: string) => {
    tf.setBackend(backend);
    assert.equal(tf.getBackend(), backend);
    return tf.tidy(() => {
      const [gx, gw] = tf.grads(loss)([tf.tensor4d(xv, [2, 8, 8, 3]), tf.tensor4d(wv, [3, 3, 3, 4])]);
      return [gx.dataSync() as Float32Array, gw.dataSync() as Float32Array];
    });
  };
  try {
    const [cx, cw] = gradsOn('cpu');
    const [wx, ww] = gradsOn('wasm');
    assertClose(cx, wx, 'dL/dx');
    assertClose(cw, ww, 'dL/dw');
    const at = (xs: Float32Array, ws: Float32Array) => tf.tidy(() => loss(tf.tensor4d(xs, [2, 8, 8, 3]), tf.tensor4d(ws, [3, 3, 3, 4])).dataSync()[0]);
    const h = 1e-2;
    for (const i of [17, 60]) {
      const wp = Float32Array.from(wv); wp[i] += h;
      const wm = Float32Array.from(wv); wm[i] -= h;
      const fd = (at(xv, wp) - at(xv, wm)) / (2 * h);
      assert.ok(Math.abs(fd - ww[i]) <= 1e-2 * Math.max(1, Math.abs(fd)), `w[${i}]: finite difference ${fd} vs ${ww[i]}`);
      const xp = Float32Array.from(xv); xp[i] += h;
      const xm = Float32Array.from(xv); xm[i] -= h;
      const fdx = (at(xp, wv) - at(xm, wv)) / (2 * h);
      assert.ok(Math.abs(fdx - wx[i]) <= 1e-2 * Math.max(1, Math.abs(fdx)), `x[${i}]: finite difference ${fdx} vs ${wx[i]}`);
    }
  } finally {
    await tf.setBackend('wasm');
  }
});

test('planFilterGrad: TF same padding at stride 2 pads only the bottom; valid stride 2 drops the unread row', () => {
  // 8 -> 4 with k=3, s=2, 'same': total padding 1, top 0 -> the conv must pad x' by 1 at the bottom
  assert.deepEqual(planFilterGrad(8, 8, 4, 4, 3, 3, 2, 2, 0, 0), { usedHeight: 8, usedWidth: 8, pads: [0, 1, 0, 1], dilations: [2, 2] });
  // 8 -> 3 with k=3, s=2, 'valid': rows 0..6 are read, row 7 never
  assert.deepEqual(planFilterGrad(8, 8, 3, 3, 3, 3, 2, 2, 0, 0), { usedHeight: 7, usedWidth: 7, pads: [0, 0, 0, 0], dilations: [2, 2] });
  // 9 -> 9, k=3, s=1, 'same': pad 1 on both sides
  assert.deepEqual(planFilterGrad(9, 9, 9, 9, 3, 3, 1, 1, 1, 1), { usedHeight: 9, usedWidth: 9, pads: [1, 1, 1, 1], dilations: [1, 1] });
});

test('planPhases: k=3, s=2, TF same on 8 -> 4 (pad top 0)', () => {
  // even rows i = 2q read taps kh = 0, 2 (i = 2*oh + kh): dx[2q] = dy[q] W0 + dy[q-1] W2, q = 0..3,
  // so dy[-1..3] is read: one row of padding on top, none at the bottom
  // odd rows i = 2q+1 read tap kh = 1: dx[2q+1] = dy[q] W1
  const [even, odd] = planPhases(8, 4, 3, 2, 0);
  assert.deepEqual(even, { phase: 0, count: 4, firstTap: 0, taps: 2, padBefore: 1, padAfter: 0 });
  assert.deepEqual(odd, { phase: 1, count: 4, firstTap: 1, taps: 1, padBefore: 0, padAfter: 0 });
});
