/**
 * Explaining images of an annotated dataset: a network built with `cropToBox` expects each image
 * cropped to its bounding box, which a bare path does not carry. Given the dataset root, image paths
 * are matched to the dataset's items (by absolute path) so that their boxes are used.
 */
import { resolve } from 'node:path';
import { openDataset } from '../data/open.ts';
import type { ImageSource } from './explain.ts';

export interface DatasetImages {
  /** One source per path, in the order given: the dataset item when found, else the path itself. */
  sources: ImageSource[];
  /** How many of the paths were found in the dataset. */
  matched: number;
}

/** Match image paths to the items of the dataset at `root` (any split), keeping the given order. */
export async function datasetImageSources(paths: readonly string[], root: string, format: 'auto' | 'cub' | 'imagefolder' = 'auto'): Promise<DatasetImages> {
  const wanted = new Map(paths.map((p) => [resolve(p), p] as const));
  const found = new Map<string, ImageSource>();
  const ds = await openDataset(root, { format });
  for await (const item of ds.items()) {
    const key = resolve(item.path);
    if (wanted.has(key)) found.set(key, { id: item.id, path: wanted.get(key)!, ...(item.bbox ? { bbox: item.bbox } : {}), ...(item.crop ? { crop: item.crop } : {}) });
    if (found.size === wanted.size) break;
  }
  return { sources: paths.map((p) => found.get(resolve(p)) ?? p), matched: found.size };
}
