/**
 * A real ONNX model behind the EvaluationModel interface, for metric tests: 3 x 32 x 32 inputs,
 * prototype maps = 8 x 8 average pools of channels (4 x 4 maps), 2 classes with 2 prototypes each
 * (class c reads channels c and c + 1), probabilities = softmax(gain * (channel means summed per class)).
 */
import * as ort from 'onnxruntime-node';
import type { EvaluationBatch, EvaluationContext, EvaluationModel } from '../../src/evaluate/context/metric.ts';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';

export const SIZE = 32;
export const CELL = 8;

export async function tinyModel(gain = 20): Promise<EvaluationModel & { release(): Promise<void>; calls: number }> {
  const model = buildModel({
    nodes: [
      node('AveragePool', ['x'], ['pooled'], { kernel_shape: [CELL, CELL], strides: [CELL, CELL] }),
      node('ReduceMean', ['x'], ['means'], { axes: [2, 3], keepdims: 0 }),
      node('MatMul', ['means', 'w'], ['logits']),
      node('Softmax', ['logits'], ['probs'], { axis: 1 }),
    ],
    inputs: [valueInfo('x', ['n', 3, SIZE, SIZE])],
    outputs: [valueInfo('pooled', ['n', 3, SIZE / CELL, SIZE / CELL]), valueInfo('probs', ['n', 2])],
    // class 0 = channels 0 + 1, class 1 = channels 1 + 2
    initializers: [tensor('w', [3, 2], [gain, 0, gain, gain, 0, gain])],
  });
  const session = await ort.InferenceSession.create(model);
  const m = SIZE / CELL;
  const run = async (batch: Float32Array, n: number) => session.run({ x: new ort.Tensor('float32', batch, [n, 3, SIZE, SIZE]) });
  const self = {
    calls: 0,
    numClasses: 2,
    prototypesPerClass: 2,
    input: { channels: 3, height: SIZE, width: SIZE, layout: 'NCHW' as const },
    mapSize: [m, m] as [number, number],
    async prototypeMaps(batch: Float32Array, n: number, classes: ArrayLike<number>): Promise<Float32Array> {
      self.calls++;
      const pooled = (await run(batch, n)).pooled.data as Float32Array;
      const out = new Float32Array(n * 2 * m * m);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 2; j++) {
          const ch = classes[i] + j;
          out.set(pooled.subarray((i * 3 + ch) * m * m, (i * 3 + ch + 1) * m * m), (i * 2 + j) * m * m);
        }
      }
      return out;
    },
    async probabilities(batch: Float32Array, n: number): Promise<Float32Array> {
      self.calls++;
      return new Float32Array((await run(batch, n)).probs.data as Float32Array);
    },
    release: () => session.release(),
  };
  return self;
}

/** A 3 x 32 x 32 image with value `v` on the given cells (channel, cell row, cell column). */
export function blobImage(blobs: [number, number, number][], v = 4): Float32Array {
  const img = new Float32Array(3 * SIZE * SIZE);
  for (const [c, r, q] of blobs) {
    for (let y = r * CELL; y < (r + 1) * CELL; y++) for (let x = q * CELL; x < (q + 1) * CELL; x++) img[c * SIZE * SIZE + y * SIZE + x] = v;
  }
  return img;
}

/** A context over fixed batches (restartable). */
export function contextOf(model: EvaluationModel, batches: EvaluationBatch[], seed: number): EvaluationContext {
  return {
    model,
    seed,
    async *batches() {
      for (const b of batches) yield b;
    },
  };
}
