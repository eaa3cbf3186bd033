/**
 * Output folders a command owns. protolens never overwrites or deletes a file it did not create, so a
 * command that writes many files into `--out` (explain, evaluate) claims the folder first with a
 * small marker file: a new or empty folder is claimed; a folder already claimed for the same kind of
 * output is reused; any other non-empty folder (a network, a dataset, the user's documents,
 * another command's output) is refused before any work. A command records the top-level entries it
 * writes (`recordOutputEntries`); when it reuses the folder, the entries the previous run recorded are
 * removed first, so no stale result of an earlier run is left beside the new ones, and nothing else.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../util/errors.ts';
import { makeDirs } from './dirs.ts';
import { writeFileAtomic } from './atomic.ts';

export const OUTPUT_CLAIM_FILE = '.protolens-output';

export type OutputKind = 'explanations' | 'evaluation' | 'site';

interface Claim {
  tool: 'protolens';
  kind: OutputKind;
  /** Top-level entries (files or folders) the last run wrote. */
  entries?: string[];
}

/** A recorded entry name is one top-level name: never a path that could leave the folder. */
const safeEntry = (e: unknown): e is string => typeof e === 'string' && e !== '' && e !== '.' && e !== '..' && !/[\\/\0]/.test(e) && e !== OUTPUT_CLAIM_FILE;

/**
 * Claim `dir` (created if absent) for `kind` of output, or refuse it.
 * @param option how the folder is named in errors (e.g. '--out').
 * @throws InputError: `dir` is a file, or a non-empty folder protolens did not claim for `kind`.
 */
export async function claimOutputFolder(dir: string, kind: OutputKind, option = '--out', o: { keepPrevious?: boolean } = {}): Promise<string> {
  const abs = resolve(dir);
  const st = await stat(abs).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(new InputError(`${option} ${dir}: cannot be read (${e.code ?? e.message})`))));
  if (st && !st.isDirectory()) throw new InputError(`${option} ${dir}: exists and is not a folder`);
  if (st) {
    // A claim being written by another process (its temporary file) does not make the folder foreign.
    const claimTemporary = (e: string) => e.startsWith(`.${OUTPUT_CLAIM_FILE}.`) && e.endsWith('.tmp');
    const entries = (await readdir(abs)).filter((e) => !claimTemporary(e));
    if (entries.length > 0) {
      let claim: Partial<Claim> | null = null;
      if (entries.includes(OUTPUT_CLAIM_FILE)) {
        try {
          claim = JSON.parse(await readFile(join(abs, OUTPUT_CLAIM_FILE), 'utf8')) as Partial<Claim>;
        } catch {
          claim = null;
        }
      }
      if (!claim || claim.tool !== 'protolens') {
        throw new InputError(`${option} ${dir}: the folder is not empty and is not a protolens ${kind} folder (no ${OUTPUT_CLAIM_FILE}; a network, a dataset or your own files are never written into); choose a new or empty folder`);
      }
      if (claim.kind !== kind) {
        throw new InputError(`${option} ${dir}: the folder holds protolens ${String(claim.kind)}, not ${kind}; choose a new or empty folder`);
      }
      // Several processes share the folder (evaluation shards): nothing is removed, the claim stays.
      if (o.keepPrevious) return abs;
      // The previous run's results go; files it did not record (if someone added any) stay.
      for (const e of (Array.isArray(claim.entries) ? claim.entries : []).filter(safeEntry)) await rm(join(abs, e), { recursive: true, force: true });
      await writeClaim(abs, { tool: 'protolens', kind, entries: [] });
      return abs;
    }
  }
  await makeDirs(abs);
  await writeClaim(abs, { tool: 'protolens', kind, entries: [] });
  return abs;
}

async function writeClaim(dir: string, claim: Claim): Promise<void> {
  // Atomic: another process (a shard) may be reading the claim while this one writes it.
  await writeFileAtomic(join(dir, OUTPUT_CLAIM_FILE), `${JSON.stringify(claim)}\n`);
}

/** `<out>/shards-<count>`: where the shards of a sharded run (evaluate, explain) put their partial results. */
export const shardFolder = (out: string, count: number): string => join(out, `shards-${count}`);

/** Shard counts N with a `shards-N` folder in `out`, ascending. */
export async function shardCounts(out: string): Promise<number[]> {
  const names = await readdir(out).catch(() => [] as string[]);
  return names.map((n) => /^shards-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** Add top-level entries this run wrote to the claimed folder's record (see the module comment). */
export async function recordOutputEntries(dir: string, entries: readonly string[]): Promise<void> {
  const path = join(dir, OUTPUT_CLAIM_FILE);
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) return; // a folder nobody claimed (a library caller's own): nothing to keep track of
  const claim = JSON.parse(text) as Claim;
  const all = new Set((claim.entries ?? []).filter(safeEntry));
  for (const e of entries) if (safeEntry(e)) all.add(e);
  await writeClaim(dir, { ...claim, entries: [...all].sort() });
}
