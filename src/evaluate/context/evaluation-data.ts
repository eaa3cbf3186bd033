/**
 * The images an evaluation runs on: a dataset split (CUB's test split by default), optionally capped
 * to an evenly spaced subset, streamed in batches through the model. Each batch arrives with the
 * classifier's features and the black box's logits, and (for the parts protocol) with each image's
 * parts mapped into input pixels by the reference arithmetic.
 */
import { batches } from '../../data/batches.ts';
import { isCubLayout } from '../../data/cub.ts';
import { openDataset } from '../../data/open.ts';
import { type Dataset, type DatasetFormat, type Split } from '../../data/dataset.ts';
import { type Failure, type ImageItem } from '../../data/types.ts';
import { type PreprocessConfig } from '../../data/preprocess-config.ts';
import { InputError } from '../../util/errors.ts';
import type { ForwardBatch, NetworkEvaluationModel } from './network-model.ts';
import { protocolCrop, protocolParts, type PartsVariant } from '../protocols/parts.ts';

export interface EvaluationDataOptions {
  /** Layout (default 'auto': CUB when images.txt and classes.txt are at the root). */
  format?: DatasetFormat | 'auto';
  /** Split (default 'test' for CUB, 'all' for ImageFolder, which has no split). */
  split?: Split;
  /** ImageFolder classes in the model's output order (array, or a file with one name per line). */
  classList?: string[] | string;
  /** Evaluate at most this many images, evenly spaced over the split (default: all). */
  maxImages?: number;
}

export interface EvaluationData {
  dataset: Dataset;
  split: Split;
  /** Dataset positions (item.index) evaluated, ascending; null = every item. */
  selected: ReadonlySet<number> | null;
  /** Number of images selected (before any decode failure). */
  count: number;
}

/**
 * Positions floor(i * size / n), i = 0 .. n - 1: n distinct positions spread evenly over 0 .. size - 1
 * (all of them when n >= size).
 */
export function evenlySpaced(size: number, n: number): number[] {
  if (n >= size) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: n }, (_, i) => Math.floor((i * size) / n));
}

/** Open the dataset and choose the images. */
export async function openEvaluationData(root: string, opts: EvaluationDataOptions = {}): Promise<EvaluationData> {
  const given = opts.format ?? 'auto';
  if (!['auto', 'cub', 'imagefolder'].includes(given)) throw new InputError(`dataset format: expected auto, cub or imagefolder, got '${given}'`);
  const format: DatasetFormat = given === 'auto' ? ((await isCubLayout(root)) ? 'cub' : 'imagefolder') : given;
  const split: Split = opts.split ?? (format === 'cub' ? 'test' : 'all');
  const dataset = await openDataset(root, { format, split, ...(opts.classList !== undefined ? { classList: opts.classList } : {}) });
  if (opts.maxImages !== undefined && (!Number.isInteger(opts.maxImages) || opts.maxImages < 1)) {
    throw new InputError(`maxImages: expected a positive integer, got ${opts.maxImages}`);
  }
  if (dataset.size === 0) throw new InputError(`dataset ${root} (${dataset.format}, split '${split}') has no images`);
  const selected = opts.maxImages !== undefined && opts.maxImages < dataset.size ? new Set(evenlySpaced(dataset.size, opts.maxImages)) : null;
  return { dataset, split, selected, count: selected ? selected.size : dataset.size };
}

/** Ordinals [start, end) of the selected images (a shard's range). */
export type OrdinalRange = readonly [number, number];

/**
 * The selected items, in dataset order, with their ordinal (position among the selected images);
 * only those whose ordinal is in `range` when given.
 */
export async function* selectedItems(data: EvaluationData, range?: OrdinalRange): AsyncGenerator<ImageItem & { ordinal: number }> {
  let ordinal = 0;
  for await (const it of data.dataset.items()) {
    if (data.selected && !data.selected.has(it.index)) continue;
    const o = ordinal++;
    if (range && o < range[0]) continue;
    if (range && o >= range[1]) break;
    yield Object.assign(it, { ordinal: o });
  }
}

export interface ForwardBatchOptions {
  /** Images per batch (default: the model's fixed batch size, else 32). */
  batchSize?: number;
  /** Map each image's parts for this protocol variant (default: no parts). */
  partsVariant?: PartsVariant;
  /** Called for each image that cannot be decoded. */
  onFailure?: (f: Failure) => void;
  /** Only the selected images with these ordinals (a shard's range; default all). */
  range?: OrdinalRange;
}

/**
 * Stream the selected images through the model with preprocessing `cfg`. Images that cannot be
 * decoded are reported through `onFailure` and left out; batches where every image failed are skipped.
 */
export async function* forwardBatches(model: NetworkEvaluationModel, data: EvaluationData, cfg: PreprocessConfig, opts: ForwardBatchOptions = {}): AsyncGenerator<ForwardBatch> {
  const batchSize = model.classifier.maxBatch ?? opts.batchSize ?? 32;
  const inputSize: [number, number] = [model.input.height, model.input.width];
  const ordinals = new Map<number, number>();
  const items = async function* () {
    for await (const it of selectedItems(data, opts.range)) {
      ordinals.set(it.index, it.ordinal);
      yield it;
    }
  };
  const stream = batches(items(), cfg, { batchSize, onFailure: opts.onFailure });
  try {
    for await (const b of stream) {
      const n = b.items.length;
      if (n === 0) continue;
      const { features, logits } = await model.forward(b.tensor, n);
      const variant = opts.partsVariant;
      yield {
        tensor: b.tensor,
        labels: b.items.map((it) => it.label),
        indices: b.items.map((it) => it.index),
        ordinals: b.items.map((it) => {
          const o = ordinals.get(it.index)!;
          ordinals.delete(it.index);
          return o;
        }),
        ids: b.items.map((it) => it.id),
        parts: variant ? b.items.map((it, i) => (it.parts ? protocolParts(it.parts, protocolCrop(it, variant, b.geometries[i].source), inputSize) : undefined)) : undefined,
        features,
        logits,
        failures: b.failures,
      };
    }
  } finally {
    await stream.return();
  }
}
