/**
 * Atomic file writes: data goes to a temporary file in the same folder, is flushed, then renamed over
 * the target. A killed process leaves either the old file or the new one, never half of either.
 *
 * Temporary names carry the writer's process id and a tag of its host
 * (`.<name>.<pid>.<hex>.<host tag>.tmp`): folders shared between machines (a cluster's cache) are
 * cleaned only of temporaries whose writer is known to be gone, i.e. a dead process of this host, or
 * any writer's after STALE_FOREIGN_TMP_MS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { processAlive } from '../util/process.ts';
import { makeDirs } from './dirs.ts';

export async function writeFileAtomic(path: string, data: Uint8Array | string | readonly Uint8Array[]): Promise<void> {
  await makeDirs(dirname(path));
  const tmp = temporaryPath(path);
  const fh = await open(tmp, 'w');
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
    else for (const chunk of data) await fh.write(chunk);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** This host's tag in temporary names: 8 hex digits of the SHA-256 of its name. */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Where `writeFileAtomic` writes before the rename: `.<name>.<pid>.<hex>.<host tag>.tmp` beside `path`. */
export function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.${HOST_TAG}.tmp`);
}

/** A temporary file of another host is removed only when it is older than this (its writer cannot be checked). */
export const STALE_FOREIGN_TMP_MS = 24 * 3600 * 1000;

/**
 * The temporary files `writeFileAtomic` leaves when its process is killed: `.<name>.<pid>.<hex>.<host>.tmp`
 * (and `.<name>.<pid>.<hex>.tmp`, written by earlier versions, taken as this host's).
 */
const TMP_RE = /^\..+\.(\d+)\.[0-9a-f]{8}(?:\.([0-9a-f]{8}))?\.tmp$/;

/**
 * Remove, in `dir`, the temporary files of atomic writes whose writer is gone: this host's whose
 * process no longer exists, other hosts' older than STALE_FOREIGN_TMP_MS. Returns how many.
 */
export async function removeStaleTemporaries(dir: string, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = TMP_RE.exec(name);
    if (!m) continue;
    const ours = m[2] === undefined || m[2] === HOST_TAG;
    const stale = ours ? !processAlive(Number(m[1])) : now - ((await stat(join(dir, name)).catch(() => null))?.mtimeMs ?? now) > STALE_FOREIGN_TMP_MS;
    if (stale) {
      await rm(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
