/**
 * The input gradient of a 2-D convolution (tfjs kernel `Conv2DBackpropInput`) computed with forward
 * convolutions, one per stride phase ("polyphase"), so that no multiply touches an inserted zero.
 * tfjs-backend-wasm ships this kernel as a plain loop that runs about 10x slower than its
 * XNNPACK forward convolution; this replacement routes the work through Conv2D.
 *
 * NHWC, forward y[oh] = sum_kh xpad[oh*s + kh] W[kh] (one spatial axis shown; the other is alike,
 * xpad[r] = x[r - pt]). Then for an input row i = a + s*q (phase a in [0, s)):
 *
 *   dx[i] = sum over taps kh = kh0 + s*t (kh0 = (a + pt) mod s) of dy[q + ca - t] W[kh],
 *   ca = (a + pt - kh0) / s,
 *
 * a stride-1 correlation of dy with the phase's sub-kernel, reversed and with its channel axes
 * swapped: F[m, n, co, ci] = W[kh0 + s*(T-1-m), kw0 + s*(U-1-n), ci, co], padded on top by
 * T-1-ca (negative means: drop rows of dy). The phases' outputs are interleaved into dx.
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Attributes tfjs passes to Conv2DBackpropInput (see tfjs-core conv2DBackpropInput). */
export interface Conv2DBackpropInputAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** One spatial axis of one stride phase: which taps, and how dy is padded (or cropped) for them. */
export interface PhaseAxisPlan {
  /** Phase: the input positions a, a + s, a + 2s, ... */
  phase: number;
  /** Number of input positions in this phase. */
  count: number;
  /** First kernel tap used by this phase and the number of taps (step s). */
  firstTap: number;
  taps: number;
  /** Padding of dy before (negative: rows to drop) and after (negative: rows to drop). */
  padBefore: number;
  padAfter: number;
}

/** Plan one spatial axis: pure arithmetic, exported for tests. */
export function planPhases(inSize: number, outSize: number, kernel: number, stride: number, padBefore: number): PhaseAxisPlan[] {
  const plans: PhaseAxisPlan[] = [];
  for (let a = 0; a < stride; a++) {
    const count = a < inSize ? Math.ceil((inSize - a) / stride) : 0;
    const firstTap = (((a + padBefore) % stride) + stride) % stride;
    const taps = firstTap < kernel ? Math.ceil((kernel - firstTap) / stride) : 0;
    const ca = (a + padBefore - firstTap) / stride;
    const before = taps - 1 - ca;
    // rows of padded dy needed: count + taps - 1
    const after = count + taps - 1 - (outSize + before);
    plans.push({ phase: a, count, firstTap, taps, padBefore: before, padAfter: after });
  }
  return plans;
}

interface KernelArgs {
  inputs: { dy: tf.TensorInfo; filter: tf.TensorInfo };
  backend: tf.KernelBackend;
  attrs: Conv2DBackpropInputAttrs;
}

function kernelFuncOf(name: string, backendName: string): tf.KernelFunc {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`Conv2DBackpropInput via conv: backend '${backendName}' has no ${name} kernel`);
  return k.kernelFunc;
}

/**
 * Build the kernel function for a backend. The phase filters (small) are built on the host; the
 * convolutions run on the backend's Conv2D; dy is cropped with its Slice kernel when a phase needs
 * fewer rows than dy has.
 */
export function makeConv2DBackpropInputViaConv(backendName: string): tf.KernelFunc {
  const slice = kernelFuncOf('Slice', backendName);
  const conv2d = kernelFuncOf('Conv2D', backendName);
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const { dy, filter } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    if (dataFormat !== undefined && dataFormat !== 'NHWC') {
      throw new Error(`Conv2DBackpropInput via conv: only NHWC is supported, got dataFormat '${dataFormat}'`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, 'channelsLast',
    );
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, filterHeight: KH, filterWidth: KW } = info;
    const rows = planPhases(H, info.outHeight, KH, info.strideHeight, info.padInfo.top);
    const cols = planPhases(W, info.outWidth, KW, info.strideWidth, info.padInfo.left);
    const wv = backend.readSync(filter.dataId) as Float32Array;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    const single = sh === 1 && sw === 1;
    const dx = single ? null : new Float32Array(B * H * W * Ci);
    const temps: tf.TensorInfo[] = [];
    try {
      for (const r of rows) {
        for (const c of cols) {
          if (r.count === 0 || c.count === 0 || r.taps === 0 || c.taps === 0) continue; // dx stays 0 there
          // phase filter F[m, n, co, ci] = W[r0 + sh*(T-1-m), c0 + sw*(U-1-n), ci, co]
          const T = r.taps;
          const U = c.taps;
          const f = new Float32Array(T * U * Co * Ci);
          for (let m = 0; m < T; m++) {
            const kh = r.firstTap + sh * (T - 1 - m);
            for (let n = 0; n < U; n++) {
              const kw = c.firstTap + sw * (U - 1 - n);
              const src = (kh * KW + kw) * Ci * Co;
              const dst = (m * U + n) * Co * Ci;
              for (let ci = 0; ci < Ci; ci++) for (let co = 0; co < Co; co++) f[dst + co * Ci + ci] = wv[src + ci * Co + co];
            }
          }
          const fInfo: tf.TensorInfo = { dataId: backend.write(f, [T, U, Co, Ci], 'float32'), shape: [T, U, Co, Ci], dtype: 'float32' };
          temps.push(fInfo);
          // crop dy where a padding is negative
          const top = Math.max(0, -r.padBefore);
          const left = Math.max(0, -c.padBefore);
          const hKeep = info.outHeight - top - Math.max(0, -r.padAfter);
          const wKeep = info.outWidth - left - Math.max(0, -c.padAfter);
          let src: tf.TensorInfo = dy;
          if (top > 0 || left > 0 || hKeep < info.outHeight || wKeep < info.outWidth) {
            src = slice({ inputs: { x: dy }, backend, attrs: { begin: [0, top, left, 0], size: [B, hKeep, wKeep, Co] } }) as tf.TensorInfo;
            temps.push(src);
          }
          const pads = [[0, 0], [Math.max(0, r.padBefore), Math.max(0, r.padAfter)], [Math.max(0, c.padBefore), Math.max(0, c.padAfter)], [0, 0]];
          const y = conv2d({ inputs: { x: src, filter: fInfo }, backend, attrs: { strides: [1, 1], pad: pads, dataFormat: 'NHWC', dilations: [1, 1] } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
          if (single) {
            // the only phase is the whole gradient
            return y;
          }
          temps.push(y);
          const yv = backend.readSync(y.dataId) as Float32Array;
          // interleave: dx[b, a + sh*q, c + sw*p, :] = y[b, q, p, :]
          for (let b = 0; b < B; b++) {
            for (let q = 0; q < r.count; q++) {
              const rowDst = (b * H + r.phase + sh * q) * W;
              const rowSrc = (b * r.count + q) * c.count;
              for (let p = 0; p < c.count; p++) {
                const s0 = (rowSrc + p) * Ci;
                dx!.set(yv.subarray(s0, s0 + Ci), (rowDst + c.phase + sw * p) * Ci);
              }
            }
          }
        }
      }
      const out = dx ?? new Float32Array(B * H * W * Ci);
      return { dataId: backend.write(out, [B, H, W, Ci], 'float32'), shape: [B, H, W, Ci], dtype: 'float32' };
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

/**
 * Replace a backend's Conv2DBackpropInput (default 'wasm') with the forward-convolution version.
 * Returns true when a kernel was registered by this call.
 */
export function registerConv2DBackpropInputViaConv(backendName = 'wasm'): boolean {
  const existing = tf.getKernel('Conv2DBackpropInput', backendName);
  if (existing && (existing as { viaConv?: boolean }).viaConv) return false;
  if (existing) tf.unregisterKernel('Conv2DBackpropInput', backendName);
  const config = { kernelName: 'Conv2DBackpropInput', backendName, kernelFunc: makeConv2DBackpropInputViaConv(backendName), viaConv: true };
  tf.registerKernel(config);
  return true;
}
