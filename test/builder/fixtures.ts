// Shared fixtures of the build tests: a small ResNet-like ONNX net with random weights, a CUB
// layout of generated images, and independent recomputations (features image by image through the
// classifier, no batching, no cache).
import { cpSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImage } from '../../src/data/load.ts';
import { openDataset } from '../../src/data/open.ts';
import { validatePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { type ImageItem } from '../../src/data/types.ts';
import { writeCubFixture, type CubFixture } from '../helpers/cub-fixture.ts';
import { loadClassifier, type Classifier } from '../../src/model/classifier.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';

/** Classes, images per class (a quarter are test images) and the model's input size. */
export const CLASSES = 4;
export const IMAGES_PER_CLASS = 8;
export const TRAIN_PER_CLASS = 6;
export const INPUT = 32;

export interface Fixture {
  dir: string;
  model: string;
  cub: CubFixture;
}

/** Write the model (C classes) and a CUB fixture under `dir`. */
export async function makeFixture(dir: string, opts: { classes?: number; modelClasses?: number; seed?: number } = {}): Promise<Fixture> {
  await mkdir(dir, { recursive: true });
  const classes = opts.classes ?? CLASSES;
  const model = join(dir, 'model.onnx');
  writeFileSync(model, buildResNetLike({ seed: opts.seed ?? 3, numClasses: opts.modelClasses ?? classes, inputSize: INPUT }).model);
  const cub = await writeCubFixture(join(dir, 'cub'), { classes, imagesPerClass: IMAGES_PER_CLASS, width: 48, height: 40, testEvery: 4 });
  return { dir, model, cub };
}

/** A copy of a CUB fixture with the given images (CUB image ids) overwritten by bytes no decoder accepts. */
export function corruptCopy(fx: Fixture, target: string, ids: number[]): string {
  cpSync(fx.cub.root, target, { recursive: true });
  for (const id of ids) {
    const im = fx.cub.images.find((x) => x.id === id)!;
    writeFileSync(join(target, 'images', ...im.name.split('/')), Buffer.from('this is not an image'));
  }
  return target;
}

/** Features of every training image of class c, one image per run (no batching, no cache). */
export async function featuresOneByOne(
  clf: Classifier,
  root: string,
  c: number,
  preprocess: unknown,
): Promise<{ items: ImageItem[]; features: Float32Array[]; logits: Float32Array[] }> {
  const cfg = validatePreprocessConfig(preprocess, 'manifest');
  const ds = await openDataset(root, { split: 'train' });
  const items = await ds.itemsOfClass(c);
  const features: Float32Array[] = [];
  const logits: Float32Array[] = [];
  for (const it of items) {
    const { tensor } = await loadImage(it, cfg);
    const r = await clf.run(Float32Array.from(tensor), 1);
    features.push(r.features);
    logits.push(r.logits);
  }
  return { items, features, logits };
}

export { loadClassifier };
