// Purity (PIP-Net's definition, docs/metric-references.md): the patch arithmetic, the left/right merge and
// the per-prototype score by hand, the top lists' tie rule, and the metric end to end (one process and
// two shards) on the planted network, whose refined prototypes each detect one part's marker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergedParts, offerTop, patchRange, prototypePurity, type TopEntry } from '../../src/evaluate/protocols/purity.ts';
import { evaluateNetwork, evaluateShard } from '../../src/evaluate/evaluate-network.ts';
import { makePlantedFixture, type PlantedFixture } from './planted-net.ts';

const CUB_PARTS = ['back', 'beak', 'belly', 'breast', 'crown', 'forehead', 'left eye', 'left leg', 'left wing', 'nape', 'right eye', 'right leg', 'right wing', 'tail', 'throat'];

test('patches: 32 px at 224 on a 7 x 7 grid tile the image; scaled inputs; the last row is [S - patch, S]', () => {
  assert.deepEqual([0, 3, 5, 6].map((i) => patchRange(i, 7, 224)), [[0, 32], [96, 128], [160, 192], [192, 224]]);
  // 64 px input, 8 x 8 grid: patch round(9.14) = 9, skip round(55 / 7) = 8.
  assert.deepEqual([0, 6, 7].map((i) => patchRange(i, 8, 64)), [[0, 9], [48, 57], [55, 64]]);
});

test('left parts merge into the right ones: 15 CUB parts become 12', () => {
  const m = mergedParts(CUB_PARTS);
  assert.equal(m.length, 12);
  assert.deepEqual(m.find((x) => x.name === 'right eye')!.ids, [11, 7]);
  assert.deepEqual(m.find((x) => x.name === 'beak')!.ids, [2]);
  assert.ok(!m.some((x) => x.name.startsWith('left')));
});

test('purity by hand: the best part\'s share among images where it is visible; inclusive bounds; source scaling', () => {
  const merged = mergedParts(['beak', 'left eye', 'right eye']);
  // 224 x 224 input, 7 x 7 grid; source images 448 x 224 (x scaled by 2). Patch at row 0, col 1:
  // rows [0, 32] -> y [0, 32]; cols [32, 64] -> x [64, 128].
  const at = (parts: [number, number, number, boolean][]) => ({ width: 448, height: 224, row: 0, col: 1, parts: parts.map(([partId, x, y, visible]) => ({ partId, x, y, visible })) });
  const images = [
    at([[1, 64, 32, true], [2, 300, 100, true], [3, 0, 0, false]]), // beak on the patch corner (inclusive); left eye out
    at([[1, 129, 10, true], [2, 100, 10, true], [3, 200, 200, true]]), // beak just outside; left eye in (so 'right eye' merged: in)
    at([[1, 0, 0, false], [2, 0, 0, false], [3, 70, 5, true]]), // beak invisible; right eye in
  ];
  // beak: visible in 2 images, in the patch in 1 -> 0.5; right eye (merged): visible in 3, in 2 -> 2/3.
  const r = prototypePurity(images, [7, 7], [224, 224], merged);
  assert.equal(r.purity, 2 / 3);
  assert.equal(r.part, 'right eye');
  assert.deepEqual(prototypePurity([], [7, 7], [224, 224], merged), { purity: 0, part: null });
});

test('top lists keep the k largest, the earlier image on ties', () => {
  const list: TopEntry[] = [];
  const e = (score: number, ordinal: number): TopEntry => ({ score, ordinal, row: 0, col: 0 });
  for (const x of [e(1, 0), e(3, 1), e(2, 2), e(3, 3), e(0.5, 4), e(2, 5)]) offerTop(list, x, 3);
  assert.deepEqual(list.map((x) => x.ordinal), [1, 3, 2]);
  offerTop(list, e(2, 0), 3);
  assert.deepEqual(list.map((x) => x.ordinal), [1, 3, 0], 'an equal score from an earlier image wins');
  offerTop(list, e(NaN, 9), 3);
  assert.deepEqual(list.map((x) => x.ordinal), [1, 3, 0], 'NaN never enters');
});

let dir: string;
let fx: PlantedFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-purity-'));
  fx = await makePlantedFixture(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('end to end: the planted prototypes are pure, the random split less so; two shards merge into the same report', async () => {
  const opts = { net: fx.markers, data: fx.cub.root, metrics: ['purity' as const], batchSize: 2 };
  const r = await evaluateNetwork({ ...opts, out: join(dir, 'single') });
  const p = r.metrics.purity!;
  assert.equal(p.images, fx.cub.images.filter((im) => im.isTrain).length, 'every training image scanned');
  assert.equal(p.topK, 10);
  assert.equal(r.dataset.evaluated, 0, 'no test image was needed');
  const refined = p.sets.refined!;
  assert.equal(refined.prototypes, 9);
  assert.equal(refined.mean, 1, JSON.stringify(refined.perPrototype));
  for (const q of refined.perPrototype) assert.equal(q.part, fx.cub.partNames[q.prototype], `class ${q.class} prototype ${q.prototype} is pure on its own part`);
  assert.ok(p.sets.random!.mean < 1, `random split ${p.sets.random!.mean}`);
  assert.deepEqual(r.metricsRun, ['purity']);
  // Not run unless asked: it scans the training split.
  const d = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: undefined, maxImages: 2, deletion: { images: 1 } });
  assert.ok(!d.metricsRun.includes('purity'));

  // The audit files recompute every prototype's purity with the documented rule (written out here
  // independently: patch from the grid position, scaled to the source, inclusive bounds, left into right).
  const { tensors } = await readSafetensors(join(dir, 'single', 'purity.safetensors'));
  const index = JSON.parse(readFileSync(join(dir, 'single', 'purity.json'), 'utf8')) as { topK: number; grid: [number, number]; input: [number, number]; images: { ordinal: number; width: number; height: number; parts: [number, number, number, number][] }[] };
  const byOrdinal = new Map(index.images.map((im) => [im.ordinal, im]));
  const names = fx.cub.partNames; // ['beak', 'left eye', 'tail']: no right counterpart, nothing merges
  for (const set of ['refined', 'random'] as const) {
    const ord = tensors[`top_ordinal_${set}`].data as Int32Array;
    const rows = tensors[`top_row_${set}`].data as Int32Array;
    const cols = tensors[`top_col_${set}`].data as Int32Array;
    const K = index.topK;
    p.sets[set]!.perPrototype.forEach((q, pi) => {
      const shares = names.map((_, part) => {
        let inside = 0;
        let visible = 0;
        for (let j = 0; j < K && ord[pi * K + j] >= 0; j++) {
          const im = byOrdinal.get(ord[pi * K + j])!;
          const [, x, y, vis] = im.parts.find((t) => t[0] === part + 1)!;
          if (!vis) continue;
          visible++;
          const side = Math.round((32 * 64) / 224);
          const skip = Math.round((64 - side) / 7);
          const range = (i: number) => (i === 7 || i * skip + side >= 64 ? [64 - side, 64] : [i * skip, i * skip + side]);
          const [r0, r1] = range(rows[pi * K + j]);
          const [c0, c1] = range(cols[pi * K + j]);
          if ((r0 * im.height) / 64 <= y && y <= (r1 * im.height) / 64 && (c0 * im.width) / 64 <= x && x <= (c1 * im.width) / 64) inside++;
        }
        return visible > 0 ? inside / visible : 0;
      });
      assert.equal(q.purity, Math.max(0, ...shares), `${set} prototype ${pi}`);
    });
  }
  assert.equal(r.outputs!.purity, 'purity.safetensors');

  const out = join(dir, 'sharded');
  for (const index of [1, 0]) await evaluateShard({ ...opts, out, shard: { index, count: 2 } });
  const merged = await evaluateNetwork({ ...opts, out });
  assert.equal(merged.timing.mergedShards, 2);
  assert.deepEqual(merged.metrics.purity, r.metrics.purity);
});
