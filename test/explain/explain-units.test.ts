// The small pure pieces of explain: edit distance and closest names, the selection percentile and
// box (against the sort-based references of test/pictures/percentile-reference.ts), the map product,
// softmax and ranking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestNames, editDistance, resolveClassName } from '../../src/network/class-names.ts';
import { rankClasses, softmax, termMaps } from '../../src/network/contributions.ts';
import { upsampleMap } from '../../src/pictures/heatmap.ts';
import { boxAtPercentile, boxAtPercentileJs, percentileBySelection, strongestRegion } from '../../src/pictures/strongest-region.ts';
import { percentileBox as checkedPercentileBox } from '../../src/pictures/percentile.ts';
import { InputError, UsageError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';
import { percentile, percentileBox } from '../pictures/percentile-reference.ts';

test('editDistance: hand-computed distances (Levenshtein plus adjacent swaps)', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('flaw', 'lawn'), 2);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('same', 'same'), 0);
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('cta', 'cat'), 1);
  assert.equal(editDistance('forg', 'frog'), 1);
  // optimal string alignment: a swapped pair is not edited again ('ca' -> 'abc' is 3, not 2)
  assert.equal(editDistance('ca', 'abc'), 3);
});

test('closestNames orders by distance (case-insensitive), ties in class order; resolveClassName lists them', () => {
  const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  assert.deepEqual(closestNames('Cat', names, 1), ['cat']);
  // 'dag': dog 1, cat 2, then deer and frog 3 (class order), bird 4
  assert.deepEqual(closestNames('dag', names, 4), ['dog', 'cat', 'deer', 'frog']);
  assert.equal(resolveClassName('frog', names), 6);
  assert.throws(
    () => resolveClassName('forg', names),
    (e: unknown) => e instanceof UsageError && /--class: 'forg' is not one of the 10 classes/.test(e.message) && /closest names: 'frog', 'dog'/.test(e.message),
  );
});

test('percentileBySelection equals the sort-based numpy percentile, bit for bit', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 60; trial++) {
    const n = 1 + rng.int(400);
    const ties = trial % 3 === 0;
    const v = Float32Array.from({ length: n }, () => (ties ? rng.int(5) : rng.normal()));
    for (const p of [0, 5, 50, 90, 95, 99.5, 100, 100 * rng.next()]) assert.equal(percentileBySelection(v, p), percentile(v, p), `n ${n} p ${p}`);
  }
  assert.equal(percentileBySelection([4, 1, 3, 2], 95), percentile([4, 1, 3, 2], 95));
  assert.ok(Math.abs(percentileBySelection([4, 1, 3, 2], 95) - 3.85) < 1e-12);
  assert.equal(percentileBySelection(new Float32Array(50).fill(2), 95), 2);
  assert.throws(() => percentileBySelection([], 50), /at least one value/);
  assert.throws(() => percentileBySelection([1], 101), /pct/);
});

test('strongest-region boxes equal percentileBox of the upsampled map (random and planted maps)', () => {
  const rng = new Rng(12);
  for (let trial = 0; trial < 12; trial++) {
    const [mh, mw, w, h] = [2 + rng.int(8), 2 + rng.int(8), 16 + rng.int(64), 16 + rng.int(64)];
    const map = Float32Array.from({ length: mh * mw }, () => rng.normal());
    const up = upsampleMap(map, mh, mw, w, h);
    for (const p of [95, 80, 50]) {
      assert.deepEqual(boxAtPercentile(up, w, h, p), percentileBox(up, w, h, p));
      assert.deepEqual(strongestRegion(map, mh, mw, w, h, p), percentileBox(up, w, h, p));
    }
  }
  // One hot cell of a 7 x 7 map: the box sits inside that cell's 32 x 32 block region at 224.
  const hot = new Float32Array(49);
  hot[3 * 7 + 1] = 5;
  const b = strongestRegion(hot, 7, 7, 224, 224);
  const cx = b.x + (b.width - 1) / 2, cy = b.y + (b.height - 1) / 2;
  assert.ok(Math.abs(cx - (1 * 32 + 15.5)) <= 1 && Math.abs(cy - (3 * 32 + 15.5)) <= 1, JSON.stringify(b));
  assert.ok(b.width < 64 && b.height < 64);
  // A flat map: every pixel ties, the box is the image.
  assert.deepEqual(strongestRegion(new Float32Array(49).fill(1), 7, 7, 20, 10), { x: 0, y: 0, width: 20, height: 10 });
});

test('the engine box equals the JavaScript and sort-based boxes on tie-heavy maps; a non-finite value names its pixel', () => {
  const rng = new Rng(13);
  for (let trial = 0; trial < 40; trial++) {
    const [w, h] = [1 + rng.int(90), 1 + rng.int(90)];
    const levels = 1 + rng.int(4);
    const up = Float32Array.from({ length: w * h }, () => (trial % 2 ? rng.int(levels) : rng.normal()));
    for (const p of [0, 50, 95, 99.9, 100, 100 * rng.next()]) {
      const reference = percentileBox(up, w, h, p);
      assert.deepEqual(boxAtPercentile(up, w, h, p), reference, `${w} x ${h}, p ${p}`);
      assert.deepEqual(boxAtPercentileJs(up, w, h, p), reference, `${w} x ${h}, p ${p}`);
    }
  }
  const bad = new Float32Array(12).fill(1);
  bad[7] = Infinity;
  assert.throws(() => checkedPercentileBox(bad, 4, 3, 95), (e) => e instanceof InputError && /pixel \(3, 1\) is Infinity/.test((e as Error).message));
  bad[7] = NaN;
  assert.throws(() => checkedPercentileBox(bad, 4, 3, 95), /pixel \(3, 1\) is NaN/);
  assert.throws(() => checkedPercentileBox(new Float32Array(12), 4, 3, 101), /pct/);
});

test('termMaps: heatmaps x v^T and contributions (their means) on a hand-computed case', () => {
  // HW = 2 positions, D = 3 channels, k = 2 vectors.
  const x = new Float32Array([1, 2, 3, 0, -1, 4]);
  const V = new Float32Array([1, 0, 1, 0.5, 0.5, -1]);
  const { maps, contributions } = termMaps(x, 2, 3, V, 2);
  // v0: p0 1 + 3 = 4, p1 0 + 4 = 4; v1: p0 0.5 + 1 - 3 = -1.5, p1 -0.5 - 4 = -4.5
  assert.deepEqual(Array.from(maps), [4, 4, -1.5, -4.5]);
  assert.deepEqual(Array.from(contributions), [4, -3]);
  assert.throws(() => termMaps(x, 3, 3, V, 2), /expected HW x D/);
});

test('softmax sums to 1 and is shift-invariant; rankClasses orders by logit, ties by index', () => {
  const l = [2, -1, 2, 700];
  const p = softmax(l);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.ok(p[3] > 0.999999);
  const q = softmax([1, 2, 3]);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = e[0] + e[1] + e[2];
  q.forEach((v, i) => assert.ok(Math.abs(v - e[i] / z) < 1e-15));
  assert.deepEqual(rankClasses(l), [3, 0, 2, 1]);
});
