/**
 * Picking a class by name: exact match against the network's class names, and when there is none,
 * the closest names by edit distance for the error message.
 */
import { UsageError } from '../util/errors.ts';

/**
 * Edit distance between a and b by UTF-16 unit: insertions, deletions, substitutions and swaps of two
 * adjacent characters each cost 1 (optimal string alignment, the usual measure of typing errors).
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const n = b.length + 1;
  let prev2 = new Uint32Array(n);
  let prev = new Uint32Array(n);
  let cur = new Uint32Array(n);
  for (let j = 0; j < n; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j < n; j++) {
      const cb = b.charCodeAt(j - 1);
      let d = Math.min(prev[j - 1] + (ca === cb ? 0 : 1), prev[j] + 1, cur[j - 1] + 1);
      if (i > 1 && j > 1 && ca === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === cb) d = Math.min(d, prev2[j - 2] + 1);
      cur[j] = d;
    }
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[b.length];
}

/**
 * The `count` class names closest to `query` by edit distance, compared case-insensitively; ties keep
 * the classes' order.
 */
export function closestNames(query: string, names: readonly string[], count = 5): string[] {
  const q = query.toLowerCase();
  return names
    .map((name, index) => ({ name, index, d: editDistance(q, name.toLowerCase()) }))
    .sort((x, y) => x.d - y.d || x.index - y.index)
    .slice(0, count)
    .map((x) => x.name);
}

/**
 * The index of the class named exactly `name`.
 * @throws UsageError naming the option and listing the closest class names when there is none.
 */
export function resolveClassName(name: string, names: readonly string[], option = '--class'): number {
  const i = names.indexOf(name);
  if (i >= 0) return i;
  const near = closestNames(name, names);
  throw new UsageError(`${option}: '${name}' is not one of the ${names.length} classes of the network; closest names: ${near.map((n) => `'${n}'`).join(', ')}`);
}
