/**
 * Which images of a dataset a command runs on (evaluate, batch explain): a split (CUB's test split by
 * default, everything for ImageFolder), optionally an evenly spaced subset, and, for a shard, a range
 * of ordinals (positions among the selected images). Shard ranges are consecutive and start on batch
 * boundaries, so every image meets the model in the same batch as in a single run.
 *
 *   const sel = await selectImages('CUB_200_2011/', { maxImages: 1000 });
 *   for await (const it of selectedItems(sel, shardRanges(sel.count, 4, 32)[1])) ...
 */
import { isCubLayout } from './cub.ts';
import { openDataset } from './open.ts';
import { type Dataset, type DatasetFormat, type Split } from './dataset.ts';
import { type ImageItem } from './types.ts';
import { InputError } from '../util/errors.ts';

export interface SelectionOptions {
  /** Layout (default 'auto': CUB when images.txt and classes.txt are at the root). */
  format?: DatasetFormat | 'auto';
  /** Split (default 'test' for CUB, 'all' for ImageFolder, which has no split). */
  split?: Split;
  /** ImageFolder classes in the model's output order (array, or a file with one name per line). */
  classList?: string[] | string;
  /** Evaluate at most this many images, evenly spaced over the split (default: all). */
  maxImages?: number;
}

export interface ImageSelection {
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

/** Open the dataset and choose the images: the split, then at most `maxImages` of it, evenly spaced. */
export async function selectImages(root: string, opts: SelectionOptions = {}): Promise<ImageSelection> {
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
export async function* selectedItems(data: ImageSelection, range?: OrdinalRange): AsyncGenerator<ImageItem & { ordinal: number }> {
  let ordinal = 0;
  for await (const it of data.dataset.items()) {
    if (data.selected && !data.selected.has(it.index)) continue;
    const o = ordinal++;
    if (range && o < range[0]) continue;
    if (range && o >= range[1]) break;
    yield Object.assign(it, { ordinal: o });
  }
}

/**
 * Ranges of `count` images in `shards` shards, aligned to `batch`: the batches are dealt out as
 * evenly as possible (earlier shards take the extra ones), after the first shard has taken
 * ceil(firstAtLeast / batch) of them. A shard may be empty when there are fewer batches than shards.
 */
export function shardRanges(count: number, shards: number, batch: number, firstAtLeast = 0): OrdinalRange[] {
  for (const [name, v, min] of [['count', count, 0], ['shards', shards, 1], ['batch', batch, 1], ['firstAtLeast', firstAtLeast, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new InputError(`evaluation shards: ${name} must be an integer >= ${min}, got ${v}`);
  }
  const batches = Math.ceil(count / batch);
  const first = Math.min(batches, Math.max(Math.ceil(firstAtLeast / batch), Math.ceil(batches / shards)));
  const blocks = [first];
  const rest = batches - first;
  const others = shards - 1;
  for (let s = 0; s < others; s++) blocks.push(Math.floor(rest / others) + (s < rest % others ? 1 : 0));
  const ranges: OrdinalRange[] = [];
  let start = 0;
  for (const b of blocks) {
    const end = Math.min(count, start + b * batch);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}
