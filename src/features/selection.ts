/**
 * Which images of a class are extracted, and the fingerprint the feature cache trusts them by.
 *
 * - The per-class cap takes an evenly spaced subset (items floor(i * n / N), i = 0 .. N - 1), so it
 *   needs no seed, spans the class's whole listing, and stays the same when decomposition options
 *   (including the seed) change: a rebuild with another k or seed reuses the cached features.
 * - The fingerprint of an image is its id, absolute path, byte size and modification time, so a
 *   class is recomputed when any of its files is replaced, added, removed or moved.
 */
import { stat } from 'node:fs/promises';
import type { ImageItem } from '../data/types.ts';
import { InputError } from '../util/errors.ts';

/**
 * At most `max` items, evenly spaced over `items` (all of them when `max` is undefined or not
 * smaller), in their original order.
 */
export function capItems<T>(items: readonly T[], max: number | undefined): T[] {
  if (max === undefined || items.length <= max) return [...items];
  if (!Number.isInteger(max) || max < 1) throw new InputError(`maxImagesPerClass: expected an integer >= 1, got ${max}`);
  const n = items.length;
  return Array.from({ length: max }, (_, i) => items[Math.floor((i * n) / max)]);
}

/** Stat calls in flight while fingerprinting a class. */
const STAT_CONCURRENCY = 64;

/**
 * Fingerprints of `items` (one string per item, in order): `id \t path \t size \t mtime-ms`, or
 * `id \t path \t missing` when the file cannot be stat'ed (extraction then reports it as failed).
 */
export async function fingerprintItems(items: readonly ImageItem[]): Promise<string[]> {
  const out = new Array<string>(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const it = items[i];
      try {
        const s = await stat(it.path);
        out[i] = `${it.id}\t${it.path}\t${s.size}\t${Math.trunc(s.mtimeMs)}`;
      } catch {
        out[i] = `${it.id}\t${it.path}\tmissing`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_CONCURRENCY, items.length) }, worker));
  return out;
}
