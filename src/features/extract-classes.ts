/**
 * Fill the feature cache for every class of a dataset, class by class: a class whose cached file
 * was computed for exactly the same images (same ids, paths, sizes and modification times) is
 * skipped; any other is extracted and written atomically. An interrupted run therefore resumes at
 * the first unfinished class, and runs that differ only downstream (k, allocator, seed, ...) skip
 * extraction entirely.
 */
import type { Dataset } from '../data/dataset.ts';
import type { PreprocessConfig } from '../data/preprocess-config.ts';
import { readSafetensorsHeader } from '../io/safetensors.ts';
import type { Classifier } from '../model/classifier.ts';
import type { BatchStream } from '../data/batches.ts';
import type { ImageItem } from '../data/types.ts';
import { extractClass, openClassBatches, throwIfAborted, type ExtractOptions, type ImageHeadCheck } from './extract.ts';
import { capItems, fingerprintItems } from './selection.ts';
import type { FeatureStore } from './store.ts';

export interface ExtractClassesOptions extends Omit<ExtractOptions, 'onImages'> {
  /** Cap per class (evenly spaced subset); default all images. */
  maxImagesPerClass?: number;
  /** The classes to settle, in this order (default every class of the dataset). */
  classes?: readonly number[];
}

/** What happened to one class. */
export interface ClassExtraction {
  classIndex: number;
  /** Images requested (after the cap). */
  requested: number;
  /** Images whose features are stored. */
  images: number;
  /** Images that failed to decode. */
  failed: number;
  /** True when the class was already in the cache (nothing recomputed). */
  cached: boolean;
}

export interface ExtractClassesHooks {
  /** Images extracted so far out of the images of the classes that need extraction. */
  onProgress?(done: number, total: number, classIndex: number): void;
  /** After each class is settled (extracted and written, or found in the cache). Awaited. */
  onClass?(info: ClassExtraction): void | Promise<void>;
}

export interface ExtractClassesReport {
  classes: ClassExtraction[];
  classesExtracted: number;
  classesCached: number;
  imagesExtracted: number;
  imagesFailed: number;
  seconds: number;
  /** The head checked on the first batch of real images extracted in this run (none when all were cached). */
  headCheck: ImageHeadCheck | null;
}

/**
 * Make sure `store` holds every class of `dataset` (or the classes `opts.classes` lists). Two passes: the first finds the classes the
 * cache already has (to size the progress total); the second extracts the others. Item lists are
 * listed per class and dropped after use, so memory does not grow with the number of classes.
 */
export async function extractClasses(
  classifier: Classifier,
  dataset: Dataset,
  store: FeatureStore,
  cfg: PreprocessConfig,
  opts: ExtractClassesOptions = {},
  hooks: ExtractClassesHooks = {},
): Promise<ExtractClassesReport> {
  const t0 = performance.now();
  const classes = opts.classes ?? dataset.classNames.map((_, c) => c);
  const listClass = async (c: number) => {
    const items = capItems(await dataset.itemsOfClass(c), opts.maxImagesPerClass);
    return { items, fingerprints: await fingerprintItems(items) };
  };
  const todo = new Set<number>();
  let total = 0;
  for (const c of classes) {
    throwIfAborted(opts.signal);
    const { items, fingerprints } = await listClass(c);
    if (await store.has(c, fingerprints)) continue;
    todo.add(c);
    total += items.length;
  }
  const report: ExtractClassesReport = { classes: [], classesExtracted: 0, classesCached: 0, imagesExtracted: 0, imagesFailed: 0, seconds: 0, headCheck: null };
  let done = 0;
  hooks.onProgress?.(0, total, 0);
  // The next class to extract, listed and its batches started while the current one runs.
  let ahead: { c: number; items: ImageItem[]; fingerprints: string[]; stream: BatchStream } | null = null;
  const openAhead = async (from: number) => {
    const next = classes.slice(from).find((x) => todo.has(x));
    if (next === undefined) return null;
    const listed = await listClass(next);
    return { c: next, ...listed, stream: openClassBatches(classifier, listed.items, cfg, opts) };
  };
  let current: BatchStream | null = null;
  try {
    for (const [pos, c] of classes.entries()) {
      throwIfAborted(opts.signal);
      const mine = ahead?.c === c ? ahead : null;
      const { items, fingerprints } = mine ?? (await listClass(c));
      let info: ClassExtraction;
      if (!mine && !todo.has(c) && (await store.has(c, fingerprints))) {
        const { metadata, tensors } = await readSafetensorsHeader(store.classPath(c));
        const failed = (JSON.parse(metadata.failures ?? '[]') as unknown[]).length;
        info = { classIndex: c, requested: items.length, images: tensors.features.shape[0], failed, cached: true };
        report.classesCached++;
      } else {
        // This class's batches first, then the next class's: they decode while this one runs.
        current = mine?.stream ?? openClassBatches(classifier, items, cfg, opts);
        if (todo.has(c)) ahead = await openAhead(pos + 1);
        const cf = await extractClass(classifier, c, items, cfg, {
          ...opts,
          stream: current,
          verifyHead: report.headCheck === null ? opts.verifyHead : undefined,
          onImages: (k) => {
            done += k;
            hooks.onProgress?.(done, total, c);
          },
        });
        if (cf.headCheck) report.headCheck = cf.headCheck;
        await store.write(cf, fingerprints);
        info = { classIndex: c, requested: items.length, images: cf.n, failed: cf.failures.length, cached: false };
        report.classesExtracted++;
        report.imagesExtracted += cf.n;
        report.imagesFailed += cf.failures.length;
      }
      report.classes.push(info);
      await hooks.onClass?.(info);
    }
  } finally {
    // Batches started but not read to the end (an error or an interruption) stop decoding.
    await current?.return();
    await ahead?.stream.return();
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
