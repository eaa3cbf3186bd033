/**
 * Sharded builds: which classes a shard owns, where that choice is recorded, and each shard's
 * progress record, so builds can run as a Slurm job array or a Kubernetes Indexed Job over one shared
 * cache (docs/scale.md).
 *
 * - A shard is `I/N` (0 <= I < N), given explicitly or read from the scheduler's environment
 *   (`auto`: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or Kubernetes' JOB_COMPLETION_INDEX
 *   with an explicit shard count).
 * - Classes are assigned by size (images per class), largest first, each to the shard with the fewest
 *   images so far (ties: the lower class index, then the lower shard): deterministic, so every shard
 *   computes the same plan on its own, and balanced when class sizes differ. The plan is written to
 *   `<results>/shards-<N>.json`; its presence tells a later build without a shard to assemble.
 * - Each shard keeps `<results>/shards-<N>/<I>.json` up to date (state, host, pid, classes done,
 *   last update, error), which `protolens status` reads.
 */
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import { InputError, UsageError } from '../util/errors.ts';

export interface ShardSpec {
  index: number;
  count: number;
  /** Where the numbers came from. */
  source: 'option' | 'slurm' | 'kubernetes';
}

export const SHARD_PLAN_SCHEMA = 'protolens.shard-plan';
export const SHARD_RECORD_SCHEMA = 'protolens.shard';

/** `<results>/shards-<N>.json` */
export interface ShardPlan {
  schema: typeof SHARD_PLAN_SCHEMA;
  schemaVersion: 1;
  count: number;
  /** Images per class (after the per-class cap), the sizes the plan balances. */
  sizes: number[];
  /** Shard of each class. */
  assignment: number[];
}

export type ShardState = 'running' | 'done' | 'failed';

/** `<results>/shards-<N>/<I>.json` */
export interface ShardRecord {
  schema: typeof SHARD_RECORD_SCHEMA;
  index: number;
  count: number;
  state: ShardState;
  host: string;
  pid: number;
  /** Scheduler job id when known (Slurm array job and task, or Kubernetes pod name). */
  job: string | null;
  started: string;
  updated: string;
  /** Classes the shard owns, finished so far (computed here or found in the cache), and computed here. */
  classes: number;
  classesDone: number;
  classesComputed: number;
  error: string | null;
}

const intText = (s: string | undefined): number | null => (s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : null);

/**
 * Parse `--shard` (`I/N` or `auto`) with the optional `--shards N`.
 * @throws UsageError naming the option or the environment variable and what was expected.
 */
export function parseShard(text: string, shards: number | undefined, env: NodeJS.ProcessEnv = process.env): ShardSpec {
  const check = (index: number, count: number, source: ShardSpec['source'], what: string): ShardSpec => {
    if (!(count >= 1)) throw new UsageError(`${what}: the shard count must be at least 1, got ${count}`);
    if (!(index >= 0 && index < count)) throw new UsageError(`${what}: shard index ${index} is outside 0..${count - 1}`);
    return { index, count, source };
  };
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m) {
    if (shards !== undefined && shards !== Number(m[2])) throw new UsageError(`--shards ${shards} contradicts --shard ${text}`);
    return check(Number(m[1]), Number(m[2]), 'option', `--shard ${text}`);
  }
  if (text.trim() !== 'auto') throw new UsageError(`--shard: expected I/N (for example 0/4) or 'auto' (from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX), got '${text}'`);
  const task = env.SLURM_ARRAY_TASK_ID;
  if (task !== undefined) {
    const id = intText(task);
    const min = intText(env.SLURM_ARRAY_TASK_MIN) ?? 0;
    const max = intText(env.SLURM_ARRAY_TASK_MAX);
    const count = shards ?? intText(env.SLURM_ARRAY_TASK_COUNT);
    if (id === null) throw new UsageError(`--shard auto: SLURM_ARRAY_TASK_ID is '${task}', expected an integer`);
    if (count === null) throw new UsageError('--shard auto: SLURM_ARRAY_TASK_COUNT is not set; pass --shards N');
    if (shards === undefined && max !== null && max - min + 1 !== count) {
      throw new UsageError(`--shard auto: the Slurm array ${min}-${max} holds ${count} tasks, not one per index; submit a contiguous array (--array=0-${count - 1}) or pass --shards N`);
    }
    return check(id - min, count, 'slurm', `--shard auto (SLURM_ARRAY_TASK_ID=${task}, SLURM_ARRAY_TASK_MIN=${min})`);
  }
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined) {
    const id = intText(k8s);
    if (id === null) throw new UsageError(`--shard auto: JOB_COMPLETION_INDEX is '${k8s}', expected an integer`);
    if (shards === undefined) throw new UsageError("--shard auto: a Kubernetes Indexed Job does not tell its size; pass --shards N (the Job's completions)");
    return check(id, shards, 'kubernetes', `--shard auto (JOB_COMPLETION_INDEX=${k8s})`);
  }
  throw new UsageError('--shard auto: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set; run it as a Slurm array task or a Kubernetes Indexed Job, or give --shard I/N');
}

/** The scheduler's job id, for the record: Slurm `<array job>_<task>`, Kubernetes pod name, or null. */
export function schedulerJob(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `slurm ${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  if (env.SLURM_JOB_ID) return `slurm ${env.SLURM_JOB_ID}`;
  if (env.JOB_COMPLETION_INDEX !== undefined && env.HOSTNAME) return `pod ${env.HOSTNAME}`;
  return null;
}

/** Shard of each class: largest classes first, each to the least-loaded shard (see the module doc). */
export function planShards(sizes: readonly number[], count: number): number[] {
  const order = sizes.map((_, c) => c).sort((a, b) => sizes[b] - sizes[a] || a - b);
  const load = new Array<number>(count).fill(0);
  const assignment = new Array<number>(sizes.length);
  for (const c of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s] < load[best]) best = s;
    assignment[c] = best;
    load[best] += Math.max(1, sizes[c]); // an empty class still costs a little
  }
  return assignment;
}

export const planPath = (resultsDir: string, count: number): string => join(resultsDir, `shards-${count}.json`);
export const recordPath = (resultsDir: string, index: number, count: number): string => join(resultsDir, `shards-${count}`, `${index}.json`);

/** Write the plan for `count` shards (every shard writes the same content; the rename makes racing writers harmless). */
export async function writeShardPlan(resultsDir: string, sizes: readonly number[], count: number): Promise<ShardPlan> {
  const plan: ShardPlan = { schema: SHARD_PLAN_SCHEMA, schemaVersion: 1, count, sizes: [...sizes], assignment: planShards(sizes, count) };
  let existing: string | null = null;
  try {
    existing = await readFile(planPath(resultsDir, count), 'utf8');
  } catch {
    // none yet
  }
  const text = JSON.stringify(plan, null, 2) + '\n';
  if (existing !== text) await writeJsonAtomic(planPath(resultsDir, count), plan);
  return plan;
}

/** Every shard plan in a results folder, by shard count. */
export async function readShardPlans(resultsDir: string): Promise<ShardPlan[]> {
  const plans: ShardPlan[] = [];
  for (const name of (await readdir(resultsDir).catch(() => [] as string[])).sort()) {
    if (!/^shards-\d+\.json$/.test(name)) continue;
    const file = join(resultsDir, name);
    try {
      const p = JSON.parse(await readFile(file, 'utf8')) as ShardPlan;
      if (p.schema === SHARD_PLAN_SCHEMA && Array.isArray(p.assignment)) plans.push(p);
    } catch (e) {
      throw new InputError(`${file}: unreadable shard plan (${(e as Error).message}); delete it and rerun the shards`);
    }
  }
  return plans.sort((a, b) => a.count - b.count);
}

/** The progress records of the shards of one plan (shards that never started have none). */
export async function readShardRecords(resultsDir: string, count: number): Promise<ShardRecord[]> {
  const dir = join(resultsDir, `shards-${count}`);
  const out: ShardRecord[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!/^\d+\.json$/.test(name)) continue;
    try {
      const r = JSON.parse(await readFile(join(dir, name), 'utf8')) as ShardRecord;
      if (r.schema === SHARD_RECORD_SCHEMA) out.push(r);
    } catch {
      // being replaced right now (atomic rename) or damaged: shown as unknown
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/** A shard's own record, rewritten atomically as the shard progresses. */
export class ShardRecorder {
  private readonly record: ShardRecord;
  private constructor(
    private readonly path: string,
    record: ShardRecord,
  ) {
    this.record = record;
  }

  static async start(resultsDir: string, shard: ShardSpec, classes: number): Promise<ShardRecorder> {
    const now = new Date().toISOString();
    const r = new ShardRecorder(recordPath(resultsDir, shard.index, shard.count), {
      schema: SHARD_RECORD_SCHEMA,
      index: shard.index,
      count: shard.count,
      state: 'running',
      host: hostname(),
      pid: process.pid,
      job: schedulerJob(),
      started: now,
      updated: now,
      classes,
      classesDone: 0,
      classesComputed: 0,
      error: null,
    });
    await r.save();
    return r;
  }

  private async save(): Promise<void> {
    this.record.updated = new Date().toISOString();
    await writeJsonAtomic(this.path, this.record);
  }

  async progress(classesDone: number, classesComputed: number): Promise<void> {
    this.record.classesDone = classesDone;
    this.record.classesComputed = classesComputed;
    await this.save();
  }

  async finish(error: unknown = null): Promise<void> {
    this.record.state = error === null ? 'done' : 'failed';
    this.record.error = error === null ? null : error instanceof Error ? error.message : String(error);
    await this.save();
  }
}
