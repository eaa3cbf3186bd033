/**
 * Atomic file writes: data goes to a temporary file in the same folder, is flushed, then renamed over
 * the target. A killed process leaves either the old file or the new one, never half of either.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { processAlive } from '../util/process.ts';
import { makeDirs } from './dirs.ts';

export async function writeFileAtomic(path: string, data: Uint8Array | string | readonly Uint8Array[]): Promise<void> {
  await makeDirs(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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

/** The temporary files `writeFileAtomic` leaves when its process is killed: `.<name>.<pid>.<hex>.tmp`. */
const TMP_RE = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** Remove, in `dir`, the temporary files of atomic writes whose process is gone. Returns how many. */
export async function removeStaleTemporaries(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = TMP_RE.exec(name);
    if (m && !processAlive(Number(m[1]))) {
      await rm(join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}
