/**
 * Checking an exported ONNX model against the tfjs model it came from: the same images through
 * onnxruntime-node (NCHW) and tfjs (NHWC), logits compared element by element.
 */
import * as ort from 'onnxruntime-node';
import type * as tf from '@tensorflow/tfjs';
import { CheckError } from '../../src/util/errors.ts';
import { predictLogits, type LabelledImages } from './train.ts';

/** NHWC -> NCHW for `n` images of H x W x C. */
export function nhwcToNchw(x: Float32Array, n: number, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(x.length);
  const hw = H * W;
  for (let b = 0; b < n; b++) {
    const base = b * hw * C;
    for (let p = 0; p < hw; p++) for (let c = 0; c < C; c++) out[base + c * hw + p] = x[base + p * C + c];
  }
  return out;
}

/** Logits of an ONNX classifier (single NCHW input, single output) in batches, on CPU. */
export async function onnxLogits(
  model: Uint8Array | string,
  nchw: Float32Array,
  n: number,
  chw: [number, number, number],
  options: { batchSize?: number; inputName?: string; outputName?: string } = {},
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model as Uint8Array, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const inputName = options.inputName ?? session.inputNames[0];
    const outputName = options.outputName ?? session.outputNames[0];
    const per = chw[0] * chw[1] * chw[2];
    const bs = options.batchSize ?? 64;
    const chunks: Float32Array[] = [];
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      const input = new ort.Tensor('float32', nchw.subarray(s * per, (s + m) * per), [m, ...chw]);
      const out = await session.run({ [inputName]: input }, [outputName]);
      chunks.push(Float32Array.from(out[outputName].data as Float32Array));
      input.dispose();
      out[outputName].dispose();
    }
    const total = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      total.set(c, o);
      o += c.length;
    }
    return total;
  } finally {
    await session.release();
  }
}

/** How closely the ONNX model reproduces the tfjs model's logits. */
export interface ParityReport {
  images: number;
  /** max |onnx - tfjs| over all logits. */
  maxAbsDiff: number;
  /** max |tfjs logit|, for scale. */
  maxAbsLogit: number;
  /** Fraction of images with the same arg-max. */
  argmaxAgreement: number;
}

/** Run both models on `data` (NHWC) and compare; throws CheckError when maxAbsDiff > tolerance. */
export async function checkParity(model: tf.LayersModel, onnx: Uint8Array | string, data: LabelledImages, tolerance = 1e-4): Promise<ParityReport> {
  const ref = predictLogits(model, data);
  const nchw = nhwcToNchw(data.images, data.count, data.height, data.width, data.channels);
  const got = await onnxLogits(onnx, nchw, data.count, [data.channels, data.height, data.width]);
  if (got.length !== ref.length) throw new CheckError(`ONNX export: ${got.length} logits for ${ref.length} from tfjs`);
  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < ref.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ref[i] - got[i]));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(ref[i]));
  }
  const C = ref.length / data.count;
  let agree = 0;
  for (let i = 0; i < data.count; i++) {
    let a = 0;
    let b = 0;
    for (let c = 1; c < C; c++) {
      if (ref[i * C + c] > ref[i * C + a]) a = c;
      if (got[i * C + c] > got[i * C + b]) b = c;
    }
    if (a === b) agree++;
  }
  const report = { images: data.count, maxAbsDiff, maxAbsLogit, argmaxAgreement: agree / data.count };
  if (!(maxAbsDiff <= tolerance)) {
    throw new CheckError(`ONNX export: logits differ from tfjs by up to ${maxAbsDiff} (tolerance ${tolerance}) on ${data.count} images`);
  }
  return report;
}
