/**
 * Creating a folder and its missing parents, one level at a time. Node's `mkdir(p, { recursive:
 * true })` never returns on some special file systems (/proc: each mkdir reports ENOENT though the
 * parent exists, and it retries forever); this stops at the first failure and names it.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InputError } from '../util/errors.ts';

/**
 * Create `path` (and missing parents) as folders; an existing folder is fine.
 * @throws InputError naming the path and the system's reason (a parent is a file, no permission, ...).
 */
export async function makeDirs(path: string): Promise<void> {
  const abs = resolve(path);
  const missing: string[] = [];
  let p = abs;
  for (;;) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : e));
    if (st instanceof Error) throw new InputError(`cannot create folder ${abs}: ${p} cannot be read (${(st as NodeJS.ErrnoException).code ?? st.message})`);
    if (st) {
      if (!st.isDirectory()) throw new InputError(`cannot create folder ${abs}: ${p} is a file, not a folder`);
      break;
    }
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(dir).then((s) => s.isDirectory(), () => false))) continue;
      throw new InputError(`cannot create folder ${dir} (${code ?? (e as Error).message})`);
    }
  }
}
