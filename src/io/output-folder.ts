/**
 * Output folders a command owns. protolens never overwrites or deletes a file it did not create, so a
 * command that writes many files into `--out` (explain, evaluate) claims the folder first with a
 * small marker file: a new or empty folder is claimed; a folder already claimed for the same kind of
 * output is reused (its files are the command's own, rewritten); any other non-empty folder (a
 * network, a dataset, the user's documents, another command's output) is refused before any work.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../util/errors.ts';
import { makeDirs } from './dirs.ts';

export const OUTPUT_CLAIM_FILE = '.protolens-output';

export type OutputKind = 'explanations' | 'evaluation';

interface Claim {
  tool: 'protolens';
  kind: OutputKind;
}

/**
 * Claim `dir` (created if absent) for `kind` of output, or refuse it.
 * @param option how the folder is named in errors (e.g. '--out').
 * @throws InputError: `dir` is a file, or a non-empty folder protolens did not claim for `kind`.
 */
export async function claimOutputFolder(dir: string, kind: OutputKind, option = '--out'): Promise<string> {
  const abs = resolve(dir);
  const st = await stat(abs).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(new InputError(`${option} ${dir}: cannot be read (${e.code ?? e.message})`))));
  if (st && !st.isDirectory()) throw new InputError(`${option} ${dir}: exists and is not a folder`);
  if (st) {
    const entries = await readdir(abs);
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
      return abs;
    }
  }
  await makeDirs(abs);
  await writeFile(join(abs, OUTPUT_CLAIM_FILE), `${JSON.stringify({ tool: 'protolens', kind } satisfies Claim)}\n`);
  return abs;
}
