/**
 * The dataset's contact sheet for the demo page, kept in the cache beside the dataset: drawing it
 * (120 images, palette PNG) takes about 3 s, and it only changes when the dataset does.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { contactSheet, type ContactSheetOptions } from '../data/synthetic/contact-sheet.ts';
import { type PartsDatasetResult } from '../data/synthetic/generate.ts';
import { writeFileAtomic } from '../io/atomic.ts';

/** The sheet the page shows: 8 test images per class, 64-pixel cells. */
export const DEMO_SHEET_OPTIONS: Partial<ContactSheetOptions> = { perClass: 8, cell: 64, split: 'test' };

/**
 * Write the contact sheet of `ds` to `out`, from `cacheDir` when a sheet of the same dataset
 * (generator version and parameters) and options is there; otherwise draw it and cache it.
 * Returns whether the cached sheet was used.
 */
export async function cachedContactSheet(ds: PartsDatasetResult, cacheDir: string, out: string, options: Partial<ContactSheetOptions> = DEMO_SHEET_OPTIONS): Promise<boolean> {
  const key = createHash('sha256').update(JSON.stringify({ version: ds.version, params: ds.params, options })).digest('hex').slice(0, 20);
  const cached = join(cacheDir, `contact-sheet-${key}.png`);
  if (ds.reused && (await stat(cached).catch(() => null))?.isFile()) {
    await copyFile(cached, out);
    return true;
  }
  await contactSheet(ds.dir, out, options);
  await mkdir(cacheDir, { recursive: true });
  await writeFileAtomic(cached, await readFile(out));
  return false;
}
