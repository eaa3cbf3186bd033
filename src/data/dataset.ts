/**
 * The dataset interface shared by the ImageFolder and CUB-200-2011 readers, and the checks every
 * consumer needs (class count against a model head).
 */
import { InputError } from '../util/errors.ts';
import type { IgnoredFile, ImageItem } from './types.ts';

export type DatasetFormat = 'imagefolder' | 'cub';
export type Split = 'train' | 'test' | 'all';

/** A serialisable description of a dataset, for manifests and reports. */
export interface DatasetDescription {
  root: string;
  format: DatasetFormat;
  split: Split;
  classNames: string[];
  partNames?: string[];
  size: number;
  classSizes: number[];
  /** Where the class list came from: 'directories' (sorted folder names), 'classes.txt', a file path, or 'array'. */
  classSource: string;
  ignoredCount: number;
}

export interface Dataset {
  readonly root: string;
  readonly format: DatasetFormat;
  readonly split: Split;
  /** Class names; a label is an index into this list. */
  readonly classNames: string[];
  /** Part names by part id - 1 (CUB parts/parts.txt), when the dataset has parts. */
  readonly partNames?: string[];
  /** Number of items (in the selected split). */
  readonly size: number;
  /** Items per class. */
  readonly classSizes: number[];
  /** Files the listing passed over (non-image files, folders of unlisted classes); at most 1000 kept. */
  readonly ignored: IgnoredFile[];
  /** How many files the listing passed over in all. */
  readonly ignoredCount: number;
  /** The items of class c in dataset order (listed from disk on demand for ImageFolder). */
  itemsOfClass(c: number): Promise<ImageItem[]>;
  /** Every item in dataset order: class by class for ImageFolder, by image id for CUB. */
  items(): AsyncIterable<ImageItem>;
  describe(): DatasetDescription;
}

/** A dataset's description from its own fields (lists copied; part names last, when it has them). */
export function describeDataset(ds: Omit<Dataset, 'ignored' | 'itemsOfClass' | 'items' | 'describe'>, classSource: string): DatasetDescription {
  const d: DatasetDescription = {
    root: ds.root,
    format: ds.format,
    split: ds.split,
    classNames: [...ds.classNames],
    size: ds.size,
    classSizes: [...ds.classSizes],
    classSource,
    ignoredCount: ds.ignoredCount,
  };
  if (ds.partNames) d.partNames = [...ds.partNames];
  return d;
}

/**
 * Check the dataset has exactly `classes` classes (a model head's C). `source` names the model (or
 * whatever fixed C), for the message.
 */
export function checkClassCount(dataset: Pick<Dataset, 'root' | 'format' | 'classNames'>, classes: number, source: string): void {
  const n = dataset.classNames.length;
  if (n !== classes) {
    throw new InputError(
      `dataset ${dataset.root} (${dataset.format}) has ${n} classes but ${source} has ${classes} outputs; ` +
        `give the model's class list (in its output order) or a dataset with exactly ${classes} classes`,
    );
  }
}

/** Check a class index is valid for the dataset, naming the option it came from. */
export function checkClassIndex(dataset: Pick<Dataset, 'root' | 'classNames'>, c: number): void {
  if (!Number.isInteger(c) || c < 0 || c >= dataset.classNames.length) {
    throw new InputError(`class index ${c} is out of range for dataset ${dataset.root} (${dataset.classNames.length} classes)`);
  }
}

/** Keep at most this many ignored entries in a listing (all are counted). */
export const MAX_IGNORED_LISTED = 1000;
