/**
 * One pass of the model over the test split: accuracy (overall and per class), every prediction, and
 * the misclassified images, so the demo can pick one to explain and report accuracy even when the
 * evaluation module is not available. Decoding streams ahead of inference (src/data batches); the
 * model runs in onnxruntime, one call per batch.
 */
import { batches } from '../data/batches.ts';
import { type Dataset } from '../data/dataset.ts';
import { type ImageItem } from '../data/types.ts';
import { type PreprocessConfig } from '../data/preprocess-config.ts';
import type { Classifier } from '../model/classifier.ts';
import { softmax } from '../network/contributions.ts';

/** A test image the model got wrong. */
export interface Misclassified {
  item: ImageItem;
  /** Predicted class index. */
  predicted: number;
  /** Softmax probability of the predicted class. */
  probability: number;
}

export interface TestPassResult {
  /** Images classified (decoded). */
  images: number;
  correct: number;
  /** correct / images (0 when no image). */
  accuracy: number;
  /** Per class: images and correct predictions. */
  perClass: { images: number; correct: number }[];
  /** The test items in dataset order, with the predicted class of each (-1: not decoded). */
  items: ImageItem[];
  predictions: Int32Array;
  misclassified: Misclassified[];
  /** Images that could not be decoded: dataset id and reason. */
  failures: { id: string; path: string; reason: string }[];
  seconds: number;
}

/** Index of the largest value (the first on ties). */
export function argmax(v: ArrayLike<number>, start = 0, n = v.length - start): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[start + i] > v[start + best]) best = i;
  return best;
}

/**
 * Classify every item of `dataset` (already opened on the split to score) with `classifier`, images
 * preprocessed by `cfg`.
 */
export async function classifySplit(
  classifier: Classifier,
  dataset: Dataset,
  cfg: PreprocessConfig,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<TestPassResult> {
  const t0 = performance.now();
  const C = classifier.head.numClasses;
  const items: ImageItem[] = [];
  for await (const it of dataset.items()) items.push(it);
  const position = new Map(items.map((it, i) => [it.index, i]));
  const predictions = new Int32Array(items.length).fill(-1);
  const perClass = Array.from({ length: C }, () => ({ images: 0, correct: 0 }));
  const misclassified: Misclassified[] = [];
  const failures: TestPassResult['failures'] = [];
  let done = 0;
  const batchSize = classifier.maxBatch ?? opts.batchSize ?? 64;
  for await (const b of batches(items, cfg, { batchSize })) {
    for (const f of b.failures) failures.push({ id: f.id, path: f.path, reason: f.reason });
    done += b.items.length + b.failures.length;
    if (b.items.length > 0) {
      const { logits } = await classifier.run(b.tensor, b.items.length);
      b.items.forEach((it, j) => {
        const pred = argmax(logits, j * C, C);
        predictions[position.get(it.index)!] = pred;
        const pc = perClass[it.label];
        pc.images++;
        if (pred === it.label) pc.correct++;
        else misclassified.push({ item: it, predicted: pred, probability: softmax(logits.subarray(j * C, (j + 1) * C))[pred] });
      });
    }
    opts.onProgress?.(done, items.length);
  }
  const images = perClass.reduce((a, c) => a + c.images, 0);
  const correct = perClass.reduce((a, c) => a + c.correct, 0);
  return { images, correct, accuracy: images > 0 ? correct / images : 0, perClass, items, predictions, misclassified, failures, seconds: (performance.now() - t0) / 1000 };
}
