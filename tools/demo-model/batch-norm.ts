/**
 * Batch normalisation for training on the wasm backend.
 *
 * tfjs-layers' BatchNormalization trains through tf.moments + tf.batchNorm; on the wasm backend
 * their gradients tile [C] vectors to the full [B, H, W, C] shape and reduce over three axes by
 * transposing first, which took about as long as all the convolutions together. This module gives
 * the same layer (same class name, weights, config and moving-average rule, so it serialises and
 * exports exactly like tfjs-layers' own) a training path with one fused gradient:
 *
 *   forward  (M = B*H*W rows, X = x as M x C):  mean = 1/M 1^T X,  var = 1/M 1^T (X - mean)^2,
 *            xhat = (X - mean) * rsqrt(var + eps),  y = gamma * xhat + beta
 *   backward dbeta = 1^T dy,  dgamma = 1^T (dy * xhat),
 *            dx = gamma * rsqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M)
 *
 * with every column sum done as a [1 x M] x [M x C] matrix product (XNNPACK) instead of a
 * transposing reduction. The moving statistics follow tfjs-layers: moving <- moving - (moving -
 * batch) * (1 - momentum), with the biased batch variance. Inference is tfjs-layers' own code.
 */
import * as tf from '@tensorflow/tfjs';

type Tensor = tf.Tensor;
type BatchNormArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type BatchNormLayer = ReturnType<typeof tf.layers.batchNormalization>;

/** Result of one training-mode normalisation: output plus the batch statistics. */
export interface BatchNormTrainResult {
  y: Tensor;
  /** Batch mean and biased variance per channel [C] (not on the gradient tape). */
  mean: Tensor;
  variance: Tensor;
}

/**
 * Training-mode batch normalisation over every axis but the last, with the fused gradient above.
 * Returns y (on the tape, gradients to x, gamma and beta) and the batch statistics (off the tape;
 * the caller disposes them).
 */
export function batchNormTrain(x: Tensor, gamma: Tensor, beta: Tensor, epsilon: number): BatchNormTrainResult {
  const C = x.shape[x.rank - 1];
  const M = x.size / C;
  let mean: Tensor | null = null;
  let variance: Tensor | null = null;
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const X = tf.reshape(xIn, [M, C]);
    const ones = tf.ones([1, M]);
    const m = tf.div(tf.matMul(ones, X), M); // [1, C]
    const centered = tf.sub(X, m);
    const v = tf.div(tf.matMul(ones, tf.square(centered)), M); // [1, C]
    const rstd = tf.rsqrt(tf.add(v, epsilon)); // [1, C]
    const xhat = tf.mul(centered, rstd);
    const y = tf.add(tf.mul(xhat, g), b);
    mean = tf.keep(tf.reshape(m, [C]));
    variance = tf.keep(tf.reshape(v, [C]));
    save([xhat, rstd, g]);
    return {
      value: tf.reshape(y, xIn.shape),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, rs, gg] = saved;
        const D = tf.reshape(dy, [M, C]);
        const onesB = tf.ones([1, M]);
        const dbeta = tf.matMul(onesB, D); // [1, C]
        const dgamma = tf.matMul(onesB, tf.mul(D, xh)); // [1, C]
        const inner = tf.sub(tf.sub(D, tf.div(dbeta, M)), tf.mul(xh, tf.div(dgamma, M)));
        const dx = tf.mul(inner, tf.mul(gg, rs));
        return [tf.reshape(dx, xIn.shape), tf.reshape(dgamma, [C]), tf.reshape(dbeta, [C])];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}

interface BatchNormInternals {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

const BatchNormalizationBase = Object.getPrototypeOf(tf.layers.batchNormalization({})).constructor as new (args?: BatchNormArgs) => BatchNormLayer;

/**
 * tfjs-layers' BatchNormalization with the fused training path. Class name, config and weights
 * are those of BatchNormalization, so saved models and the ONNX exporter see the standard layer.
 * Only the last axis is supported as the normalised axis (the layout of every conv here).
 */
export class TrainableBatchNormalization extends BatchNormalizationBase {
  static readonly className = 'BatchNormalization';

  override call(inputs: Tensor | Tensor[], kwargs: Record<string, unknown>): Tensor | Tensor[] {
    const training = kwargs['training'] === true;
    const self = this as unknown as BatchNormInternals;
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const axis = self.axis >= 0 ? self.axis : self.axis + input.rank;
    if (!training || axis !== input.rank - 1) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const C = input.shape[axis];
      const gamma = self.gamma ? self.gamma.read() : tf.ones([C]);
      const beta = self.beta ? self.beta.read() : tf.zeros([C]);
      const { y, mean, variance } = batchNormTrain(input, gamma, beta, self.epsilon);
      const decay = 1 - self.momentum;
      for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
        tf.tidy(() => {
          const orig = variable.read();
          variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
        });
      }
      mean.dispose();
      variance.dispose();
      return y;
    });
  }
}

/** Same arguments as tf.layers.batchNormalization. */
export function trainableBatchNormalization(args: BatchNormArgs = {}): BatchNormLayer {
  return new TrainableBatchNormalization(args);
}
