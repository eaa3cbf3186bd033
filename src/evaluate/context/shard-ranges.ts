/**
 * Which images an evaluation shard scores: consecutive ranges of the selected images (by ordinal),
 * each starting on a batch boundary, so every image is run through the model in the same batch as on
 * one machine and every metric sees the numbers it would see there. The first shard holds at least
 * the first `firstAtLeast` images (the axioms' detailed checks pair each of them with the one before).
 *
 *   shardRanges(5794, 4, 32)   -> [[0, 1472], [1472, 2944], [2944, 4384], [4384, 5794]]
 */
import { InputError } from '../../util/errors.ts';
import type { OrdinalRange } from './evaluation-data.ts';

/**
 * Ranges of `count` images in `shards` shards, aligned to `batch`: the batches are dealt out as
 * evenly as possible (earlier shards take the extra ones), after the first shard has taken
 * ceil(firstAtLeast / batch) of them. A shard may be empty when there are fewer batches than shards.
 */
export function shardRanges(count: number, shards: number, batch: number, firstAtLeast = 0): OrdinalRange[] {
  for (const [name, v, min] of [['count', count, 0], ['shards', shards, 1], ['batch', batch, 1], ['firstAtLeast', firstAtLeast, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new InputError(`evaluation shards: ${name} must be an integer >= ${min}, got ${v}`);
  }
  const batches = Math.ceil(count / batch);
  const first = Math.min(batches, Math.max(Math.ceil(firstAtLeast / batch), Math.ceil(batches / shards)));
  const blocks = [first];
  const rest = batches - first;
  const others = shards - 1;
  for (let s = 0; s < others; s++) blocks.push(Math.floor(rest / others) + (s < rest % others ? 1 : 0));
  const ranges: OrdinalRange[] = [];
  let start = 0;
  for (const b of blocks) {
    const end = Math.min(count, start + b * batch);
    ranges.push([start, end]);
    start = end;
  }
  return ranges;
}
