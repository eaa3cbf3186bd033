/**
 * What a feature cache holds and how its shards are doing, for `protolens status --cache DIR`:
 * per feature key (model + preprocessing), the classes with features; per results key (decomposition
 * and exemplar options), the classes with results, the shard plans and each shard's last record. A
 * shard that says it is running is checked: on this host by its process id, elsewhere by the age of
 * its last update.
 */
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../util/errors.ts';
import { processAlive } from '../util/process.ts';
import { RESULTS_DIR } from './class-results.ts';
import { readShardPlans, readShardRecords, type ShardRecord } from './shards.ts';

/** A shard on another host that has not updated its record for this long is reported as silent. */
export const SILENT_AFTER_MS = 15 * 60 * 1000;

export interface ShardStatus {
  index: number;
  /** `pending`: never started; `running`; `done`; `failed`; `stopped`: said running, but its process is gone (this host); `silent`: said running, no update for SILENT_AFTER_MS (other host). */
  state: 'pending' | 'running' | 'done' | 'failed' | 'stopped' | 'silent';
  classes: number;
  classesDone: number;
  /** Classes of the shard with a result file now. */
  classesWithResults: number;
  host: string | null;
  pid: number | null;
  job: string | null;
  updated: string | null;
  error: string | null;
}

export interface ResultsStatus {
  dir: string;
  /** The results key (decomposition options, exemplar settings, version). */
  key: unknown;
  classesWithResults: number;
  plans: { count: number; shards: ShardStatus[] }[];
}

export interface FeatureCacheStatus {
  dir: string;
  key: { modelSha256?: string; featureTensor?: string; numClasses?: number } & Record<string, unknown>;
  numClasses: number | null;
  classesWithFeatures: number;
  results: ResultsStatus[];
}

export interface CacheStatus {
  root: string;
  caches: FeatureCacheStatus[];
}

const classFiles = async (dir: string): Promise<Set<number>> =>
  new Set(
    (await readdir(dir).catch(() => [] as string[]))
      .map((n) => /^class-(\d+)\.safetensors$/.exec(n))
      .filter((m) => m !== null)
      .map((m) => Number(m[1])),
  );

async function readKey(file: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

function shardStatus(index: number, classes: number[], present: Set<number>, rec: ShardRecord | undefined, now: number): ShardStatus {
  const withResults = classes.filter((c) => present.has(c)).length;
  if (!rec) return { index, state: 'pending', classes: classes.length, classesDone: withResults, classesWithResults: withResults, host: null, pid: null, job: null, updated: null, error: null };
  let state: ShardStatus['state'] = rec.state;
  if (rec.state === 'running') {
    if (rec.host === hostname()) state = processAlive(rec.pid) ? 'running' : 'stopped';
    else if (now - Date.parse(rec.updated) > SILENT_AFTER_MS) state = 'silent';
  }
  return { index, state, classes: classes.length, classesDone: rec.classesDone, classesWithResults: withResults, host: rec.host, pid: rec.pid, job: rec.job, updated: rec.updated, error: rec.error };
}

/** Everything under a cache root (the --cache folder of builds). */
export async function cacheStatus(root: string, now = Date.now()): Promise<CacheStatus> {
  let entries: string[];
  try {
    entries = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    throw new InputError(`--cache ${root}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const caches: FeatureCacheStatus[] = [];
  for (const name of entries) {
    const dir = join(root, name);
    const meta = await readKey(join(dir, 'key.json'));
    if (!meta) continue; // not a feature cache folder
    const key = (meta.key ?? {}) as FeatureCacheStatus['key'];
    const numClasses = typeof key.numClasses === 'number' ? key.numClasses : null;
    const results: ResultsStatus[] = [];
    const resultsRoot = join(dir, RESULTS_DIR);
    for (const r of (await readdir(resultsRoot).catch(() => [] as string[])).sort()) {
      const rdir = join(resultsRoot, r);
      const rmeta = await readKey(join(rdir, 'key.json'));
      if (!rmeta) continue;
      const present = await classFiles(rdir);
      const plans = [];
      for (const plan of await readShardPlans(rdir)) {
        const records = new Map((await readShardRecords(rdir, plan.count)).map((x) => [x.index, x]));
        const shards = Array.from({ length: plan.count }, (_, s) =>
          shardStatus(s, plan.assignment.flatMap((a, c) => (a === s ? [c] : [])), present, records.get(s), now),
        );
        plans.push({ count: plan.count, shards });
      }
      results.push({ dir: rdir, key: rmeta.key, classesWithResults: present.size, plans });
    }
    caches.push({ dir, key, numClasses, classesWithFeatures: (await classFiles(dir)).size, results });
  }
  return { root, caches };
}

/** The text `protolens status` prints. */
export function formatCacheStatus(s: CacheStatus): string {
  if (s.caches.length === 0) return `${s.root}: no feature cache (no build has run with this --cache)\n`;
  const lines: string[] = [];
  for (const c of s.caches) {
    const total = c.numClasses ?? '?';
    lines.push(`${c.dir}`);
    lines.push(`  model sha256 ${String(c.key.modelSha256 ?? '?').slice(0, 12)}..., features '${String(c.key.featureTensor ?? '?')}': features of ${c.classesWithFeatures} / ${total} classes`);
    for (const r of c.results) {
      const k = (r.key as { decompose?: { k?: number; seed?: number; allocator?: string } } | null)?.decompose;
      lines.push(`  results ${r.dir.split(/[\\/]/).pop()} (k = ${k?.k ?? '?'}, allocator ${k?.allocator ?? '?'}, seed ${k?.seed ?? '?'}): ${r.classesWithResults} / ${total} classes done`);
      for (const p of r.plans) {
        const done = p.shards.filter((x) => x.state === 'done').length;
        lines.push(`    ${p.count} shards: ${done} done`);
        for (const x of p.shards) {
          const where = x.host ? ` on ${x.host} (pid ${x.pid}${x.job ? `, ${x.job}` : ''})` : '';
          const when = x.updated ? `, last update ${x.updated}` : '';
          const err = x.error ? `: ${x.error}` : '';
          lines.push(`      shard ${x.index}/${p.count} ${x.state}${where}, ${x.classesWithResults} / ${x.classes} classes${when}${err}`);
        }
      }
    }
  }
  return lines.join('\n') + '\n';
}
