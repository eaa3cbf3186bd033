/**
 * Comparing paths as the file system sees them: symbolic links resolved, and for a path that does not
 * exist yet, its nearest existing ancestor resolved and the rest appended. Used to refuse an output
 * that is also an input, whichever way the two are spelled.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';

/** The real path of `p`, or of the part of it that exists joined with the rest. */
export async function realPathOf(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    if (parent === abs) return abs;
    return join(await realPathOf(parent), basename(abs));
  }
}

/** Whether `p` is `folder` or lies inside it (both resolved as the file system sees them). */
export async function isSameOrInside(p: string, folder: string): Promise<boolean> {
  const [a, b] = await Promise.all([realPathOf(p), realPathOf(folder)]);
  const rel = relative(b, a);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
