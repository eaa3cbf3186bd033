import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeGeometry, mapPoint } from '../../src/data/geometry.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { mapPointReference } from '../../src/evaluate/protocols/parts.ts';

// EvalProtoPNet: ratio_x = loc_x / (x2 - x1); re_loc_x = int(img_size * ratio_x) — ratio first, in double.
const reference = (px: number, x1: number, x2: number, S: number) => Math.trunc(S * ((px - x1) / (x2 - x1)));
// Exact integer arithmetic: floor(S * off / w) for non-negative off.
const exact = (off: number, w: number, S: number) => Math.floor((S * off) / w);

test('the data layer maps exactly; the protocol function reproduces the reference rounding (61 in 224 → 60)', () => {
  const cfg = makePreprocessConfig({ size: 224, resize: 'stretch', cropToBox: true });
  const crop = { x1: 10, y1: 20, x2: 234, y2: 244 };
  const g = computeGeometry(500, 400, crop, cfg);
  assert.equal(reference(71, 10, 234, 224), 60);
  assert.deepEqual(mapPoint(g, 71, 81), { x: 61, y: 61 });
  assert.deepEqual(mapPointReference(crop, [224, 224], 71, 81), { x: 60, y: 60 });
});

test('over every offset of many box widths: mapPoint is exact, mapPointReference is the reference', () => {
  const cfg = makePreprocessConfig({ size: 224, resize: 'stretch', cropToBox: true });
  let differ = 0;
  for (const w of [100, 111, 112, 223, 224, 225, 333, 448, 449]) {
    const crop = { x1: 5, y1: 7, x2: 5 + w, y2: 7 + w };
    const g = computeGeometry(1000, 1000, crop, cfg);
    for (let off = 0; off <= w; off++) {
      assert.equal(mapPoint(g, 5 + off, 7 + off).x, exact(off, w, 224), `exact, width ${w} offset ${off}`);
      assert.equal(mapPointReference(crop, [224, 224], 5 + off, 7 + off).x, reference(5 + off, 5, 5 + w, 224), `reference, width ${w} offset ${off}`);
      if (exact(off, w, 224) !== reference(5 + off, 5, 5 + w, 224)) differ++;
    }
  }
  assert.ok(differ > 0, 'the two roundings differ somewhere in this range (else this test checks nothing)');
});
