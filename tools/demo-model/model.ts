/**
 * The demo classifier: conv-BN-ReLU blocks, global average pooling and one linear layer (the head
 * shape post-hoc part-prototypes need), as a tfjs-layers Sequential model in NHWC, with weights
 * initialised from the project's seeded generator.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/random.ts';
import { trainableBatchNormalization } from './batch-norm.ts';

/** One conv-BN-ReLU block. */
export interface ConvBlockSpec {
  filters: number;
  stride: number;
}

/** Architecture of a conv-BN-ReLU / GAP / linear classifier. */
export interface CnnSpec {
  /** Input height and width (pixels). */
  inputSize: [number, number];
  inputChannels: number;
  /** Square kernel size of every conv (padding 'same', TF convention). */
  kernelSize: number;
  blocks: ConvBlockSpec[];
  numClasses: number;
  /** BatchNormalization momentum of the moving statistics and epsilon. */
  batchNormMomentum: number;
  batchNormEpsilon: number;
}

/**
 * The demo model's blocks: 64x64 -> 64 (16 ch) -> 32 (32) -> 16 (64) -> 8 (128) -> 8 (128).
 * Three stride-2 stages give an 8 x 8 final map of 128 channels.
 */
export const DEMO_CNN_BLOCKS: readonly ConvBlockSpec[] = [
  { filters: 16, stride: 1 },
  { filters: 32, stride: 2 },
  { filters: 64, stride: 2 },
  { filters: 128, stride: 2 },
  { filters: 128, stride: 1 },
];

/** The demo architecture for a number of classes. */
export function demoCnnSpec(numClasses: number): CnnSpec {
  return {
    inputSize: [64, 64],
    inputChannels: 3,
    kernelSize: 3,
    blocks: DEMO_CNN_BLOCKS.map((b) => ({ ...b })),
    numClasses,
    batchNormMomentum: 0.9,
    batchNormEpsilon: 1e-3,
  };
}

/** Spatial size after the blocks (TF 'same': ceil(size / stride) per block). */
export function finalMapSize(spec: CnnSpec): [number, number] {
  let [h, w] = spec.inputSize;
  for (const b of spec.blocks) {
    h = Math.ceil(h / b.stride);
    w = Math.ceil(w / b.stride);
  }
  return [h, w];
}

/** Multiply-accumulates of one forward pass of one image (convs and the linear layer). */
export function forwardMacs(spec: CnnSpec): number {
  let [h, w] = spec.inputSize;
  let cin = spec.inputChannels;
  let macs = 0;
  for (const b of spec.blocks) {
    h = Math.ceil(h / b.stride);
    w = Math.ceil(w / b.stride);
    macs += h * w * spec.kernelSize * spec.kernelSize * cin * b.filters;
    cin = b.filters;
  }
  return macs + cin * spec.numClasses;
}

function checkSpec(spec: CnnSpec): void {
  const bad = (what: string) => {
    throw new Error(`CNN spec: ${what}`);
  };
  if (spec.blocks.length === 0) bad('at least one conv block is needed');
  for (const [i, b] of spec.blocks.entries()) {
    if (!Number.isInteger(b.filters) || b.filters < 1) bad(`blocks[${i}].filters must be a positive integer, got ${b.filters}`);
    if (!Number.isInteger(b.stride) || b.stride < 1) bad(`blocks[${i}].stride must be a positive integer, got ${b.stride}`);
  }
  if (!Number.isInteger(spec.numClasses) || spec.numClasses < 2) bad(`numClasses must be an integer >= 2, got ${spec.numClasses}`);
  if (!Number.isInteger(spec.kernelSize) || spec.kernelSize < 1) bad(`kernelSize must be a positive integer, got ${spec.kernelSize}`);
  if (!(spec.batchNormMomentum >= 0 && spec.batchNormMomentum < 1)) bad(`batchNormMomentum must be in [0, 1), got ${spec.batchNormMomentum}`);
  if (!(spec.batchNormEpsilon > 0)) bad(`batchNormEpsilon must be > 0, got ${spec.batchNormEpsilon}`);
}

/**
 * Build the model (NHWC input [H, W, C]) with layers named block{i}_conv / block{i}_bn /
 * block{i}_relu, gap, logits. Weights: conv kernels He-normal (std sqrt(2 / fan_in)), the linear
 * layer Glorot-uniform, its bias 0, BN gamma 1 / beta 0 / moving mean 0 / moving variance 1, all
 * drawn from Rng(seed) in layer order, so a seed fixes the initial model bit for bit.
 */
export function buildCnn(spec: CnnSpec, seed: number): tf.Sequential {
  checkSpec(spec);
  const model = tf.sequential({ name: 'protolens_cnn' });
  spec.blocks.forEach((b, i) => {
    model.add(tf.layers.conv2d({
      name: `block${i + 1}_conv`,
      filters: b.filters,
      kernelSize: spec.kernelSize,
      strides: b.stride,
      padding: 'same',
      useBias: false,
      kernelInitializer: 'zeros',
      ...(i === 0 ? { inputShape: [spec.inputSize[0], spec.inputSize[1], spec.inputChannels] } : {}),
    }));
    model.add(trainableBatchNormalization({ name: `block${i + 1}_bn`, momentum: spec.batchNormMomentum, epsilon: spec.batchNormEpsilon }));
    model.add(tf.layers.reLU({ name: `block${i + 1}_relu` }));
  });
  model.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tf.layers.dense({ name: 'logits', units: spec.numClasses, kernelInitializer: 'zeros', biasInitializer: 'zeros' }));
  initialiseWeights(model, new Rng(seed));
  return model;
}

/** Re-draw every conv and dense kernel from `rng` (layer order); biases and BN at their identities. */
export function initialiseWeights(model: tf.LayersModel, rng: Rng): void {
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const weights = layer.weights; // LayerVariables, in setWeights order
    if (weights.length === 0) continue;
    const fresh = weights.map((w, j) => {
      const shape = w.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const v = new Float32Array(n);
      if (cls === 'Conv2D' && j === 0) {
        const [kh, kw, cin] = shape;
        const std = Math.sqrt(2 / (kh * kw * cin));
        for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
      } else if (cls === 'Dense' && j === 0) {
        const [fanIn, fanOut] = shape;
        const limit = Math.sqrt(6 / (fanIn + fanOut));
        for (let i = 0; i < n; i++) v[i] = rng.uniform(-limit, limit);
      } else if (cls === 'BatchNormalization') {
        // order: gamma, beta, moving_mean, moving_variance (center and scale on)
        if (j === 0 || j === 3) v.fill(1);
      }
      return tf.tensor(v, shape);
    });
    layer.setWeights(fresh);
    for (const t of fresh) t.dispose();
  }
}

/** Trainable parameter count and a one-line summary per layer. */
export function describeModel(model: tf.LayersModel): { parameters: number; layers: { name: string; type: string; outputShape: number[]; parameters: number }[] } {
  const layers = model.layers.map((l) => ({
    name: l.name,
    type: l.getClassName(),
    outputShape: (l.outputShape as (number | null)[]).slice(1) as number[],
    parameters: l.countParams(),
  }));
  return { parameters: layers.reduce((a, l) => a + l.parameters, 0), layers };
}
