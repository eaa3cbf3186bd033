/** Reading a JSON report a command wrote, given its folder or the file itself (e.g. for the viewer). */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../util/errors.ts';

/**
 * The parsed JSON at `path`, or at `path/name` when `path` is a folder. Errors name `what` and the
 * file: `missing` says what to give when it does not exist.
 */
export async function readReportFile<T>(path: string, name: string, what: string, missing: string): Promise<{ file: string; value: Partial<T> }> {
  const file = (await stat(path).catch(() => null))?.isDirectory() ? join(path, name) : path;
  try {
    return { file, value: JSON.parse(await readFile(file, 'utf8')) as Partial<T> };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${what} ${file}: ${code === 'ENOENT' ? `not found (${missing})` : `not readable JSON (${(e as Error).message})`}`);
  }
}
