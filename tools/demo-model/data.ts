/**
 * Whole dataset splits in memory for training: every image of a split decoded and preprocessed by the
 * project's data layer (src/data) into one NHWC float32 array, with labels. The demo dataset is small
 * (1500 + 750 images of 64 x 64 x 3: about 110 MB as float32).
 */
import { batches } from '../../src/data/batches.ts';
import { makePreprocessConfig, type PreprocessConfig } from '../../src/data/preprocess-config.ts';
import { openDataset } from '../../src/data/open.ts';
import { type Split } from '../../src/data/dataset.ts';
import type { LabelledImages } from './train.ts';

/** A split in memory plus where it came from. */
export interface LoadedSplit extends LabelledImages {
  classNames: string[];
  /** Item ids (CUB image ids), in order. */
  ids: string[];
  split: Split;
}

/**
 * The demo model's preprocessing: bounding-box crop, stretched to 64 x 64, bilinear, mean/std 0.5
 * (preset 'half'), NCHW as the ONNX model takes it.
 */
export function demoPreprocess(): PreprocessConfig {
  return makePreprocessConfig({ size: [64, 64], resize: 'stretch', cropToBox: true, interpolation: 'bilinear', normalize: 'half', layout: 'NCHW' });
}

/**
 * Load one split of a CUB-layout dataset with `cfg` (its layout is overridden to NHWC for tfjs).
 * Any unreadable image is an error naming the file: a training set must be complete.
 */
export async function loadSplit(root: string, split: Split, cfg: PreprocessConfig): Promise<LoadedSplit> {
  const ds = await openDataset(root, { format: 'cub', split });
  const nhwc: PreprocessConfig = { ...cfg, layout: 'NHWC' };
  const [H, W] = nhwc.size;
  const per = H * W * 3;
  const images = new Float32Array(ds.size * per);
  const labels = new Int32Array(ds.size);
  const ids: string[] = [];
  let n = 0;
  for await (const b of batches(ds.items(), nhwc, { batchSize: 64, strict: true })) {
    images.set(b.tensor, n * per);
    b.items.forEach((it, i) => {
      labels[n + i] = it.label;
      ids.push(it.id);
    });
    n += b.items.length;
  }
  if (n !== ds.size) throw new Error(`dataset ${root} (${split}): loaded ${n} of ${ds.size} images`);
  return { images, labels, count: n, height: H, width: W, channels: 3, classNames: [...ds.classNames], ids, split };
}
