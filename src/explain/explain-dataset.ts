/**
 * Explaining a whole dataset split: one JSON line per image (`explanations.jsonl`, in dataset order)
 * and a summary (`explanations-summary.json`), no pictures. Each line is the image's entry of the
 * explanation document (docs/explain.md) with the dataset's id, the image's ordinal among the
 * selected images, its label and whether the model's prediction matches it.
 *
 * Sharded (`shard`): shard I of N explains a consecutive, batch-aligned range of the selected images
 * (data/selection.ts) and writes `<out>/shards-<N>/<I>.jsonl` with its settings in `<I>.json`; a
 * final run without a shard and the same options concatenates the shards' lines into the file a
 * single run writes (byte for byte), or names the shards still missing (or computes them with
 * `complete`).
 *
 *   const s = await explainDataset({ net: 'net/', data: 'CUB_200_2011/', out: 'expl/' });
 *   // expl/explanations.jsonl: pandas.read_json('expl/explanations.jsonl', lines=True)
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import type { DatasetFormat, Split } from '../data/dataset.ts';
import { selectImages, selectedItems, shardRanges, type OrdinalRange } from '../data/selection.ts';
import type { ImageItem } from '../data/types.ts';
import { makeDirs } from '../io/dirs.ts';
import { temporaryPath, writeJsonAtomic } from '../io/atomic.ts';
import { claimOutputFolder, recordOutputEntries, shardCounts, shardFolder } from '../io/output-folder.ts';
import { prototypesDigest, type Network } from '../network/artifact.ts';
import { InputError } from '../util/errors.ts';
import { packageVersion } from '../util/version.ts';
import { DEFAULT_EXPLAIN_BATCH, Explainer, type ExplainerOptions } from './explain.ts';
import { imageEntry, type DocumentHeader, type ImageEntry } from './schema.ts';

export const LINES_FILE = 'explanations.jsonl';
export const LINES_SUMMARY_FILE = 'explanations-summary.json';
export const LINES_SUMMARY_SCHEMA = 'protolens.explanation-set';

export interface ExplainDatasetOptions extends ExplainerOptions {
  net: string | Network;
  /** Dataset root (CUB-200-2011 layout or ImageFolder). */
  data: string;
  format?: DatasetFormat | 'auto';
  /** Default: 'test' for CUB, 'all' for ImageFolder. */
  split?: Split;
  classList?: string[] | string;
  /** At most this many images, evenly spaced over the split. */
  maxImages?: number;
  /** Images per inference batch (default 8, or the model's fixed batch size). */
  batchSize?: number;
  /** Include each prototype's heatmap in the lines. */
  heatmaps?: boolean;
  /** Output folder (required). */
  out: string;
  /** Explain only shard `index` of `count` (see the module doc). */
  shard?: { index: number; count: number };
  /** When merging: explain the shards still missing here instead of failing. */
  complete?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** One line of explanations.jsonl. */
export type DatasetImageEntry = ImageEntry & {
  /** Dataset id (CUB image id or path relative to the root). */
  id: string;
  /** Position among the selected images (also `index`). */
  ordinal: number;
  label: { index: number; name: string };
  /** The model's top class is the label (null when the image could not be explained). */
  correct: boolean | null;
};

export interface DatasetExplanationSummary {
  schema: typeof LINES_SUMMARY_SCHEMA;
  version: 1;
  /** The explanation document's header (network, model, preprocessing, settings). */
  header: DocumentHeader;
  dataset: { root: string; format: string; split: string; size: number; selected: number };
  /** Set for a shard's run: which shard and the ordinals [start, end) it explained. */
  shard: { index: number; count: number; range: OrdinalRange } | null;
  /** Shards merged into the lines (null: computed in this run). */
  mergedShards: number | null;
  summary: { images: number; explained: number; failed: number; correct: number; top1: number | null };
  failures: { ordinal: number; id: string; image: string; error: string }[];
  /** The lines file, absolute. */
  file: string;
  seconds: number;
}

interface ShardMeta {
  schema: 'protolens.explanation-shard';
  version: 1;
  key: string;
  index: number;
  count: number;
  range: OrdinalRange;
  host: string;
  finished: string;
}

const shardLines = (out: string, index: number, count: number) => join(shardFolder(out, count), `${index}.jsonl`);
const shardMeta = (out: string, index: number, count: number) => join(shardFolder(out, count), `${index}.json`);

/** Explain a dataset split (or one shard of it); see the module doc. */
export async function explainDataset(opts: ExplainDatasetOptions): Promise<DatasetExplanationSummary> {
  const t0 = performance.now();
  if (typeof opts.out !== 'string' || opts.out === '') throw new InputError('out: explaining a dataset needs an output folder for explanations.jsonl');
  const shard = opts.shard ?? null;
  if (shard && !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
    throw new InputError(`shard: expected 0 <= index < count, got ${shard.index}/${shard.count}`);
  }
  const out = await claimOutputFolder(opts.out, 'explanations', '--out', { keepPrevious: shard !== null });
  const sel = await selectImages(opts.data, { format: opts.format, split: opts.split, classList: opts.classList, maxImages: opts.maxImages });
  const ex = await Explainer.open(opts.net, opts);
  try {
    if (sel.dataset.classNames.length !== ex.network.numClasses) {
      throw new InputError(`dataset ${opts.data} has ${sel.dataset.classNames.length} classes, the network ${ex.network.numClasses}`);
    }
    const batch = ex.classifier.maxBatch ?? opts.batchSize ?? DEFAULT_EXPLAIN_BATCH;
    const key = await settingsKey(ex, sel, opts, batch);
    const names = sel.dataset.classNames;
    const header = ex.header(null);
    const dataset = { root: resolve(sel.dataset.root), format: sel.dataset.format, split: sel.split, size: sel.dataset.size, selected: sel.count };
    const tally = { images: 0, explained: 0, failed: 0, correct: 0 };
    const failures: DatasetExplanationSummary['failures'] = [];
    const count = (line: DatasetImageEntry) => {
      tally.images++;
      if (line.status === 'ok') tally.explained++;
      else {
        tally.failed++;
        failures.push({ ordinal: line.ordinal, id: line.id, image: line.image, error: line.error });
      }
      if (line.correct) tally.correct++;
    };

    /** Explain the images with ordinals in `range` into `path` (atomically), handing each line to `onLine`. */
    const explainRange = async (range: OrdinalRange, path: string, onLine: (l: DatasetImageEntry) => void): Promise<void> => {
      const items: (ImageItem & { ordinal: number })[] = [];
      for await (const it of selectedItems(sel, range)) items.push(it);
      await writeStreamAtomic(path, async (write) => {
        let done = 0;
        for await (const r of ex.explainImages(items, { batchSize: batch, heatmaps: opts.heatmaps })) {
          const it = items[r.index];
          const entry = imageEntry(r, { heatmaps: opts.heatmaps ?? false });
          const line: DatasetImageEntry = {
            ...entry,
            index: it.ordinal,
            id: it.id,
            ordinal: it.ordinal,
            label: { index: it.label, name: names[it.label] ?? String(it.label) },
            correct: entry.status === 'ok' ? entry.predicted.index === it.label : null,
          };
          onLine(line);
          await write(`${JSON.stringify(line)}\n`);
          opts.onProgress?.(++done, items.length);
        }
      });
    };

    const summaryOf = (file: string, shardInfo: DatasetExplanationSummary['shard'], merged: number | null): DatasetExplanationSummary => ({
      schema: LINES_SUMMARY_SCHEMA,
      version: 1,
      header,
      dataset,
      shard: shardInfo,
      mergedShards: merged,
      summary: { ...tally, top1: tally.explained > 0 ? tally.correct / tally.explained : null },
      failures,
      file,
      seconds: (performance.now() - t0) / 1000,
    });

    if (shard) {
      const range = shardRanges(sel.count, shard.count, batch)[shard.index];
      await makeDirs(shardFolder(out, shard.count));
      await explainRange(range, shardLines(out, shard.index, shard.count), count);
      const meta: ShardMeta = { schema: 'protolens.explanation-shard', version: 1, key, index: shard.index, count: shard.count, range, host: hostname(), finished: new Date().toISOString() };
      await writeJsonAtomic(shardMeta(out, shard.index, shard.count), meta);
      return summaryOf(shardLines(out, shard.index, shard.count), { ...shard, range }, null);
    }

    await recordOutputEntries(out, [LINES_FILE, LINES_SUMMARY_FILE]);
    const file = join(out, LINES_FILE);
    const found = await shardsToMerge(out, key);
    let summary: DatasetExplanationSummary;
    if (!found) {
      await explainRange([0, sel.count], file, count);
      summary = summaryOf(file, null, null);
    } else {
      const ranges = shardRanges(sel.count, found.count, batch);
      if (found.missing.length > 0 && !opts.complete) {
        const list = found.missing.map((i) => `shard ${i}/${found.count} (images ${ranges[i][0]}..${ranges[i][1] - 1})`);
        throw new InputError(`${opts.out}: ${found.missing.length} of ${found.count} explanation shards have no results of these settings: ${list.join(', ')}; run them (explain --shard I/${found.count} with the same options), or pass --complete to explain them here`);
      }
      for (const i of found.missing) {
        await explainRange(ranges[i], shardLines(out, i, found.count), () => undefined);
        await writeJsonAtomic(shardMeta(out, i, found.count), { schema: 'protolens.explanation-shard', version: 1, key, index: i, count: found.count, range: ranges[i], host: hostname(), finished: new Date().toISOString() } satisfies ShardMeta);
      }
      await concatenateShards(out, found.count, file, count);
      summary = summaryOf(file, null, found.count);
    }
    await writeJsonAtomic(join(out, LINES_SUMMARY_FILE), summary);
    return summary;
  } finally {
    await ex.close();
  }
}

/** Every setting that changes a line: version, model, prototypes, images, explainer settings, batch. */
async function settingsKey(ex: Explainer, sel: Awaited<ReturnType<typeof selectImages>>, opts: ExplainDatasetOptions, batch: number): Promise<string> {
  const h = ex.header(null);
  const settings = {
    protolens: packageVersion(),
    model: ex.classifier.sha256,
    prototypes: await prototypesDigest(ex.network),
    data: { root: resolve(sel.dataset.root), format: sel.dataset.format, split: sel.split, size: sel.dataset.size, count: sel.count, classes: sel.dataset.classNames },
    settings: h.settings,
    heatmaps: opts.heatmaps ?? false,
    batch,
  };
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

/** The shard count whose shards hold lines of these settings (most of them), with the missing ones. */
async function shardsToMerge(out: string, key: string): Promise<{ count: number; missing: number[] } | null> {
  const counts = await shardCounts(out);
  let best: { count: number; done: number; missing: number[] } | null = null;
  for (const count of counts) {
    const missing: number[] = [];
    for (let i = 0; i < count; i++) {
      const meta = await readFile(shardMeta(out, i, count), 'utf8').then((t) => JSON.parse(t) as Partial<ShardMeta>).catch(() => null);
      if (!meta || meta.key !== key || meta.index !== i || meta.count !== count) missing.push(i);
    }
    const done = count - missing.length;
    if (done > 0 && (!best || done > best.done)) best = { count, done, missing };
  }
  return best;
}

/** Concatenate the shards' lines, in shard order, into `file` (atomically), counting each line. */
async function concatenateShards(out: string, count: number, file: string, onLine: (l: DatasetImageEntry) => void): Promise<void> {
  await writeStreamAtomic(file, async (write) => {
    for (let i = 0; i < count; i++) {
      let rest = '';
      for await (const chunk of createReadStream(shardLines(out, i, count), { encoding: 'utf8' })) {
        const text = rest + (chunk as string);
        const lines = text.split('\n');
        rest = lines.pop()!;
        for (const l of lines) onLine(JSON.parse(l) as DatasetImageEntry);
        await write(text.slice(0, text.length - rest.length));
      }
      if (rest !== '') throw new InputError(`${shardLines(out, i, count)}: the last line is not complete (a shard file cut short); run shard ${i} again`);
    }
  });
}

/** Write `path` through a stream into a temporary file renamed over it when `produce` is done (removed on error). */
async function writeStreamAtomic(path: string, produce: (write: (text: string) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = temporaryPath(path);
  const stream = createWriteStream(tmp);
  try {
    await produce(async (text) => {
      if (!stream.write(text)) await new Promise<void>((ok) => stream.once('drain', () => ok()));
    });
    stream.end();
    await finished(stream);
    await rename(tmp, path);
  } catch (e) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
