/**
 * The network folder's life cycle during a build. The folder may be new, empty, or hold a previous
 * network (it has manifest.json); anything else is refused, so a build never writes into a folder
 * the user keeps other things in by mistake. Exemplar pictures are written to a staging folder inside
 * it; only when everything succeeded is the old network replaced: its manifest is removed first (so
 * a crash in between leaves no manifest pointing at mismatched files), the staged exemplars take the
 * place of the old ones, then tensors and the manifest are written atomically. Files the build does
 * not own (e.g. explanations saved inside the folder) are left alone. A failed build removes its
 * staging folder and leaves a previous network untouched.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../network/artifact.ts';
import { EXEMPLARS_DIR } from '../network/exemplar-index.ts';
import { InputError } from '../util/errors.ts';

/** Whether a process with this id exists (signal 0 probes without sending anything). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class OutputFolder {
  private constructor(
    readonly dir: string,
    /** Where exemplars are written during the build. */
    readonly staging: string,
    private readonly created: boolean,
  ) {}

  /**
   * Check `dir` may receive a network: absent, an empty folder, or a network folder (hidden entries
   * are ignored). Returns whether it exists.
   * @throws InputError otherwise.
   */
  static async check(dir: string): Promise<boolean> {
    const st = await stat(dir).catch(() => null);
    if (st && !st.isDirectory()) throw new InputError(`--out ${dir}: exists and is not a folder`);
    if (!st) return false;
    const entries = (await readdir(dir)).filter((e) => !e.startsWith('.'));
    if (entries.length > 0 && !entries.includes(MANIFEST_FILE)) {
      throw new InputError(`--out ${dir}: the folder is not empty and holds no protolens network (no ${MANIFEST_FILE}); choose a new or empty folder`);
    }
    return true;
  }

  /**
   * Check `dir` again (see `check`), create it if needed, remove staging folders left by builds that
   * were killed (their process is gone), and create this build's staging folder.
   */
  static async prepare(dir: string): Promise<OutputFolder> {
    const created = !(await OutputFolder.check(dir));
    if (created) await mkdir(dir, { recursive: true });
    for (const e of await readdir(dir)) {
      const m = /^\.(?:building|old-exemplars)-(\d+)-[0-9a-f]+$/.exec(e);
      if (m && !processAlive(Number(m[1]))) await rm(join(dir, e), { recursive: true, force: true });
    }
    const staging = join(dir, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging);
    return new OutputFolder(dir, staging, created);
  }

  /** Remove the previous network's manifest, then move the staged exemplars into place. */
  async publishExemplars(hasExemplars: boolean): Promise<void> {
    await rm(join(this.dir, MANIFEST_FILE), { force: true });
    const target = join(this.dir, EXEMPLARS_DIR);
    const old = join(this.dir, `.old-exemplars-${process.pid}-${randomBytes(4).toString('hex')}`);
    const hadOld = await stat(target).then(() => true, () => false);
    if (hadOld) await rename(target, old);
    if (hasExemplars) await rename(join(this.staging, EXEMPLARS_DIR), target);
    await rm(this.staging, { recursive: true, force: true });
    if (hadOld) await rm(old, { recursive: true, force: true });
  }

  /** After a failure: remove the staging folder, and the network folder if this build created it and it is empty. */
  async abandon(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    if (this.created) await rmdir(this.dir).catch(() => undefined);
  }
}
