/**
 * The demo's output folder. The demo writes a claim file first; a folder that is not empty and has
 * no claim is refused (nothing is deleted). In a claimed folder, the parts a previous run wrote and
 * that are rewritten as a whole (explanations, evaluation, the page) are removed before writing, so
 * no stale card or plot survives; the network folder is replaced by the build itself.
 */
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../util/errors.ts';

/** Written first into the output folder: marks it as the demo's (safe to clean). */
export const DEMO_CLAIM_FILE = '.protolens-demo';

/** Sub-folders and files of the output folder. */
export const DEMO_LAYOUT = {
  page: 'index.html',
  summary: 'summary.json',
  contactSheet: 'dataset.png',
  network: 'network',
  explanations: 'explanations',
  evaluation: 'evaluation',
  sanity: 'sanity',
  site: 'site',
} as const;

/** What a new run clears in a claimed folder before writing (the network is replaced by the build). */
const CLEARED = [DEMO_LAYOUT.page, DEMO_LAYOUT.summary, DEMO_LAYOUT.contactSheet, DEMO_LAYOUT.explanations, DEMO_LAYOUT.evaluation, DEMO_LAYOUT.sanity, DEMO_LAYOUT.site];

/**
 * Make `dir` ready for a demo run: create it, or check it is the demo's, and clear the previous
 * run's page, explanations and evaluation.
 * @throws InputError when `dir` is a file, or a non-empty folder the demo did not write.
 */
export async function prepareDemoFolder(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => null);
  if (st && !st.isDirectory()) throw new InputError(`demo output ${dir}: exists and is not a folder`);
  if (st) {
    const entries = await readdir(dir);
    if (entries.length > 0 && !entries.includes(DEMO_CLAIM_FILE)) {
      throw new InputError(`demo output ${dir}: the folder is not empty and was not written by the demo (no ${DEMO_CLAIM_FILE} file); choose another folder with --out, or empty this one`);
    }
    for (const name of CLEARED) await rm(join(dir, name), { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, DEMO_CLAIM_FILE), 'This folder was written by the protolens demo (npm run demo); the demo may clear and rewrite it.\n');
}
