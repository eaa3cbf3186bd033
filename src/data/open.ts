/** Open a dataset by layout: CUB-200-2011 or ImageFolder, detected or named. */
import { stat } from 'node:fs/promises';
import { InputError } from '../util/errors.ts';
import { isCubLayout, openCub } from './cub.ts';
import type { Dataset, DatasetFormat, Split } from './dataset.ts';
import { openImageFolder } from './image-folder.ts';

export interface OpenDatasetOptions {
  /** Layout; 'auto' (default) picks 'cub' when images.txt and classes.txt are at the root. */
  format?: DatasetFormat | 'auto';
  /** CUB split (default 'all'). ImageFolder has no split: only 'all' is accepted. */
  split?: Split;
  /** ImageFolder classes in model output order (array, or a file with one name per line). */
  classList?: string[] | string;
  /** ImageFolder: accept class folders without images (default false). */
  allowEmptyClasses?: boolean;
}

/** Open `root` as a dataset. */
export async function openDataset(root: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const isDir = await stat(root).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new InputError(`dataset ${root}: not a directory`);
  const format = options.format ?? 'auto';
  if (!['auto', 'cub', 'imagefolder'].includes(format)) throw new InputError(`dataset format: expected auto, cub or imagefolder, got '${format}'`);
  const split = options.split ?? 'all';
  if (!['train', 'test', 'all'].includes(split)) throw new InputError(`dataset split: expected train, test or all, got '${split}'`);
  const resolved: DatasetFormat = format === 'auto' ? ((await isCubLayout(root)) ? 'cub' : 'imagefolder') : format;
  if (resolved === 'cub') {
    if (options.classList !== undefined) {
      throw new InputError(`dataset ${root}: a class list applies to ImageFolder datasets; CUB classes come from classes.txt`);
    }
    return openCub(root, { split });
  }
  if (split !== 'all') {
    throw new InputError(`dataset ${root}: ImageFolder datasets have no '${split}' split; point the root at that split's folder (or use split 'all')`);
  }
  return openImageFolder(root, { classList: options.classList, allowEmptyClasses: options.allowEmptyClasses });
}
