/**
 * Mini-batch training of a tfjs-layers classifier on in-memory images: Adam with linear warm-up and
 * cosine decay, decoupled weight decay on conv/linear kernels, softmax cross-entropy, seeded shuffling
 * and augmentation. BatchNormalization layers run in training mode (batch statistics, moving averages
 * updated), everything else is deterministic given the seed and the backend.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/random.ts';
import { drawTransform, transformImage, type AugmentConfig } from './augment.ts';

/** Images and labels in memory, NHWC float32 (already normalised). */
export interface LabelledImages {
  /** count x height x width x channels. */
  images: Float32Array;
  /** count class indices in [0, numClasses). */
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** Everything that decides a training run besides the data and the initial weights. */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  /** Peak learning rate of Adam (beta1 0.9, beta2 0.999, epsilon 1e-7). */
  learningRate: number;
  /** Linear warm-up from learningRate / 10 over this many epochs (may be fractional; 0 = none). */
  warmupEpochs: number;
  /** After warm-up: 'cosine' decays to 0 at the last step; 'constant' keeps the peak. */
  schedule: 'cosine' | 'constant';
  /** Decoupled weight decay (AdamW) on conv and linear kernels, per unit learning rate; 0 = off. */
  weightDecay: number;
  augment: AugmentConfig;
  /** Seed of the shuffling and augmentation stream. */
  seed: number;
}

/** The demo model's training configuration (docs/demo-model.md). */
export const DEMO_TRAIN_CONFIG: TrainConfig = {
  epochs: 8,
  batchSize: 64,
  learningRate: 3e-3,
  warmupEpochs: 0.5,
  schedule: 'cosine',
  weightDecay: 1e-4,
  augment: { flip: true, maxShift: 4 },
  seed: 1,
};

/** Per-epoch progress. */
export interface EpochReport {
  epoch: number;
  /** Mean training loss over the epoch's batches (augmented, training-mode BN). */
  loss: number;
  /** Learning rate of the epoch's last step. */
  learningRate: number;
  seconds: number;
  /** Accuracy on the evaluation set, when one was given. */
  evalAccuracy?: number;
}

export interface TrainResult {
  epochs: EpochReport[];
  steps: number;
  seconds: number;
}

function checkConfig(c: TrainConfig, data: LabelledImages): void {
  const bad = (m: string) => {
    throw new Error(`training config: ${m}`);
  };
  if (!Number.isInteger(c.epochs) || c.epochs < 1) bad(`epochs must be an integer >= 1, got ${c.epochs}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) bad(`batchSize must be an integer >= 1, got ${c.batchSize}`);
  if (!(c.learningRate > 0)) bad(`learningRate must be > 0, got ${c.learningRate}`);
  if (!(c.warmupEpochs >= 0)) bad(`warmupEpochs must be >= 0, got ${c.warmupEpochs}`);
  if (c.schedule !== 'cosine' && c.schedule !== 'constant') bad(`schedule must be 'cosine' or 'constant', got '${String(c.schedule)}'`);
  if (!(c.weightDecay >= 0)) bad(`weightDecay must be >= 0, got ${c.weightDecay}`);
  if (!Number.isInteger(c.augment.maxShift) || c.augment.maxShift < 0) bad(`augment.maxShift must be an integer >= 0, got ${c.augment.maxShift}`);
  if (data.count < 1) bad('no training images');
  if (data.images.length !== data.count * data.height * data.width * data.channels) {
    bad(`images hold ${data.images.length} values, expected ${data.count} x ${data.height} x ${data.width} x ${data.channels}`);
  }
  if (data.labels.length !== data.count) bad(`${data.labels.length} labels for ${data.count} images`);
}

/** Learning rate at a step (0-based) of a run with `total` steps, `perEpoch` steps per epoch. */
export function learningRateAt(c: TrainConfig, step: number, total: number, perEpoch: number): number {
  const warm = Math.round(c.warmupEpochs * perEpoch);
  if (step < warm) return c.learningRate * (0.1 + (0.9 * (step + 1)) / warm);
  if (c.schedule === 'constant') return c.learningRate;
  const span = Math.max(1, total - warm);
  const t = (step - warm) / span;
  return 0.5 * c.learningRate * (1 + Math.cos(Math.PI * t));
}

/** One-hot labels for a batch. */
function oneHot(labels: Int32Array, idx: number[], numClasses: number): tf.Tensor2D {
  const y = new Float32Array(idx.length * numClasses);
  idx.forEach((i, r) => {
    y[r * numClasses + labels[i]] = 1;
  });
  return tf.tensor2d(y, [idx.length, numClasses]);
}

/**
 * Train `model` in place. The model's last layer outputs logits for `numClasses` classes.
 * Returns per-epoch reports; `onEpoch` sees each as it completes.
 */
export async function trainClassifier(
  model: tf.LayersModel,
  data: LabelledImages,
  config: TrainConfig,
  options: { evaluate?: LabelledImages; onEpoch?: (r: EpochReport) => void } = {},
): Promise<TrainResult> {
  checkConfig(config, data);
  const numClasses = (model.outputs[0].shape as number[])[1];
  for (const l of data.labels) if (!(l >= 0 && l < numClasses)) throw new Error(`training labels: ${l} is outside [0, ${numClasses})`);
  const rng = new Rng(config.seed);
  const optimizer = tf.train.adam(config.learningRate, 0.9, 0.999, 1e-7);
  const settable = optimizer as unknown as { learningRate: number };
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = model.trainableWeights.filter((w) => /kernel/.test(w.name)).map((w) => w.read() as tf.Variable);
  const { height: H, width: W, channels: C } = data;
  const per = H * W * C;
  const perEpoch = Math.ceil(data.count / config.batchSize);
  const total = perEpoch * config.epochs;
  const order = Array.from({ length: data.count }, (_, i) => i);
  const reports: EpochReport[] = [];
  const t0 = performance.now();
  let step = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const te = performance.now();
      rng.shuffle(order);
      let lossSum = 0;
      let lr = config.learningRate;
      for (let b = 0; b < perEpoch; b++) {
        const idx = order.slice(b * config.batchSize, (b + 1) * config.batchSize);
        const xb = new Float32Array(idx.length * per);
        idx.forEach((i, r) => {
          const t = drawTransform(config.augment, rng);
          transformImage(data.images.subarray(i * per, (i + 1) * per), xb.subarray(r * per, (r + 1) * per), H, W, C, t);
        });
        lr = learningRateAt(config, step, total, perEpoch);
        settable.learningRate = lr;
        const loss = tf.tidy(() => {
          const x = tf.tensor4d(xb, [idx.length, H, W, C]);
          const y = oneHot(data.labels, idx, numClasses);
          const cost = optimizer.minimize(() => {
            const logits = model.apply(x, { training: true }) as tf.Tensor;
            return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
          }, true, trainable);
          if (config.weightDecay > 0) {
            const keep = 1 - lr * config.weightDecay;
            for (const v of decayed) v.assign(tf.mul(v, keep));
          }
          return cost!;
        });
        const lv = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(lv)) throw new Error(`training diverged: loss ${lv} at epoch ${epoch}, step ${step + 1}`);
        lossSum += lv * idx.length;
        step++;
      }
      const report: EpochReport = { epoch, loss: lossSum / data.count, learningRate: lr, seconds: (performance.now() - te) / 1000 };
      if (options.evaluate) report.evalAccuracy = accuracy(predictLogits(model, options.evaluate), options.evaluate.labels);
      reports.push(report);
      options.onEpoch?.(report);
    }
  } finally {
    optimizer.dispose();
  }
  return { epochs: reports, steps: step, seconds: (performance.now() - t0) / 1000 };
}

/** Inference-mode logits (count x numClasses, row-major) in batches. */
export function predictLogits(model: tf.LayersModel, data: LabelledImages, batchSize = 128): Float32Array {
  const per = data.height * data.width * data.channels;
  const numClasses = (model.outputs[0].shape as number[])[1];
  const out = new Float32Array(data.count * numClasses);
  for (let s = 0; s < data.count; s += batchSize) {
    const n = Math.min(batchSize, data.count - s);
    const logits = tf.tidy(() => {
      const x = tf.tensor4d(data.images.subarray(s * per, (s + n) * per), [n, data.height, data.width, data.channels]);
      return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    });
    out.set(logits, s * numClasses);
  }
  return out;
}

/** Fraction of rows whose arg-max (first maximum) equals the label. */
export function accuracy(logits: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  if (n === 0) return NaN;
  const C = logits.length / n;
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c] > logits[i * C + best]) best = c;
    if (best === labels[i]) right++;
  }
  return right / n;
}
