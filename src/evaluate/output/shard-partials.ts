/**
 * A shard's partial evaluation: `<out>/shards-<N>/<I>.safetensors`, written atomically when the shard
 * finishes. The tensors are the parts metric's rows (maps.safetensors layout, consecutive rows of
 * the shard's images); the metadata entry `protolens` holds, as JSON with NaN and Infinity kept
 * (io/json-numbers.ts), the shard, its image range, the settings key, the passes' counts and times,
 * the images that could not be decoded and every other metric's partial. A final `evaluate` without
 * a shard merges the N files into the report a one-machine run writes.
 */
import { join } from 'node:path';
import { makeDirs } from '../../io/dirs.ts';
import { shardFolder } from '../../io/output-folder.ts';
import { parseNumbers, stringifyNumbers } from '../../io/json-numbers.ts';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type Tensor } from '../../io/safetensors.ts';
import type { Failure } from '../../data/types.ts';
import { InputError } from '../../util/errors.ts';
import type { OrdinalRange } from '../../data/selection.ts';

export const SHARD_PARTIAL_SCHEMA = 'protolens.evaluation-shard';
export const SHARD_PARTIAL_VERSION = 1;

export interface PassTiming {
  purpose: 'network' | 'protocol' | 'both' | 'training';
  images: number;
  seconds: number;
}

/** A shard's results before merging (also what a one-machine run holds as its single part). */
export interface EvaluationPart {
  range: OrdinalRange;
  passes: PassTiming[];
  failures: Failure[];
  /** Partial result of each metric by its name. */
  partials: Map<string, unknown>;
}

interface PartialHeader {
  schema: typeof SHARD_PARTIAL_SCHEMA;
  version: typeof SHARD_PARTIAL_VERSION;
  /** Hash of every setting that changes a number (see evaluate-network.ts `settingsKey`). */
  key: string;
  index: number;
  count: number;
  range: OrdinalRange;
  passes: PassTiming[];
  failures: Failure[];
  /** Metric partials, except the parts rows' tensors (in the file's tensors, ids here). */
  partials: Record<string, unknown>;
  host: string;
  finished: string;
}

export const shardFile = (out: string, index: number, count: number): string => join(shardFolder(out, count), `${index}.safetensors`);

/** Write shard `index` of `count`'s part (atomically). */
export async function writeShardPartial(out: string, index: number, count: number, key: string, part: EvaluationPart, host: string): Promise<string> {
  const partials: Record<string, unknown> = {};
  let tensors: Record<string, Tensor> = {};
  for (const [name, p] of part.partials) {
    if (name === 'parts') {
      const { images, rows } = p as { images: number; rows: { ids: string[]; tensors: Record<string, Tensor> } };
      tensors = rows.tensors;
      partials.parts = { images, ids: rows.ids };
    } else partials[name] = p;
  }
  const header: PartialHeader = { schema: SHARD_PARTIAL_SCHEMA, version: SHARD_PARTIAL_VERSION, key, index, count, range: part.range, passes: part.passes, failures: part.failures, partials, host, finished: new Date().toISOString() };
  await makeDirs(shardFolder(out, count));
  const path = shardFile(out, index, count);
  await writeSafetensors(path, tensors, { protolens: stringifyNumbers(header) });
  return path;
}

const parseHeader = (metadata: Record<string, string>, path: string): PartialHeader => {
  let h: Partial<PartialHeader>;
  try {
    h = parseNumbers(metadata.protolens ?? '') as Partial<PartialHeader>;
  } catch {
    throw new InputError(`${path}: not a protolens evaluation shard (no readable 'protolens' metadata)`);
  }
  if (h?.schema !== SHARD_PARTIAL_SCHEMA || h.version !== SHARD_PARTIAL_VERSION) throw new InputError(`${path}: not a protolens evaluation shard of version ${SHARD_PARTIAL_VERSION} (schema ${String(h?.schema)}, version ${String(h?.version)})`);
  return h as PartialHeader;
};

export interface ShardInventory {
  count: number;
  /** Shards whose file holds results of these settings. */
  done: number[];
  /** Shards without a file, or with one of other settings (with the reason). */
  missing: { index: number; reason: string }[];
}

/** Which shards of `count` in `out` hold results for `key`. */
export async function shardInventory(out: string, count: number, key: string): Promise<ShardInventory> {
  const done: number[] = [];
  const missing: ShardInventory['missing'] = [];
  for (let i = 0; i < count; i++) {
    const path = shardFile(out, i, count);
    const head = await readSafetensorsHeader(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : e));
    if (head === null) missing.push({ index: i, reason: 'not run yet (no file)' });
    else if (head instanceof Error) missing.push({ index: i, reason: `unreadable (${head.message})` });
    else {
      let h: PartialHeader;
      try {
        h = parseHeader(head.metadata, path);
      } catch (e) {
        missing.push({ index: i, reason: (e as Error).message });
        continue;
      }
      if (h.key !== key || h.index !== i || h.count !== count) missing.push({ index: i, reason: 'results of other settings (run it again with the same options)' });
      else done.push(i);
    }
  }
  return { count, done, missing };
}

/** Read shard `index` of `count`, checked against `key` and the expected range. */
export async function readShardPartial(out: string, index: number, count: number, key: string, range: OrdinalRange): Promise<EvaluationPart> {
  const path = shardFile(out, index, count);
  const file = await readSafetensors(path);
  const h = parseHeader(file.metadata, path);
  if (h.key !== key) throw new InputError(`${path}: results of other settings than this evaluation's (rerun the shard with the same options)`);
  if (h.range[0] !== range[0] || h.range[1] !== range[1]) throw new InputError(`${path}: covers images ${h.range[0]}..${h.range[1] - 1}, expected ${range[0]}..${range[1] - 1}`);
  const partials = new Map<string, unknown>();
  for (const [name, p] of Object.entries(h.partials)) {
    if (name === 'parts') {
      const { images, ids } = p as { images: number; ids: string[] };
      partials.set('parts', { images, rows: { ids, tensors: file.tensors } });
    } else partials.set(name, p);
  }
  return { range: h.range, passes: h.passes, failures: h.failures, partials };
}
