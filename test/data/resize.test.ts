import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cropRgb, resizeRgb } from '../../src/data/resize.ts';
import { diffStats, pilNearest, pilResize, texture } from './helpers.ts';

const img = (w: number, h: number) => ({ data: new Uint8Array(texture(w, h)), width: w, height: h });

test('resize matches an independent PIL resample (bilinear, bicubic) when reducing, enlarging and mixed', async () => {
  const cases: [number, number, number, number][] = [
    [200, 150, 64, 64], // reduce both
    [40, 30, 96, 80], // enlarge both
    [120, 30, 64, 64], // reduce x, enlarge y
    [37, 90, 64, 45], // enlarge x, reduce y
  ];
  for (const [w, h, W, H] of cases) {
    const src = img(w, h);
    for (const kind of ['bilinear', 'bicubic'] as const) {
      const ours = await resizeRgb(src, W, H, kind);
      assert.equal(ours.width, W);
      assert.equal(ours.height, H);
      const ref = pilResize(src.data, w, h, W, H, kind);
      const d = diffStats(ours.data, ref);
      // measured: mean <= 0.29, max <= 3 levels (the JS reference itself is within 1 level of PIL 9.4)
      assert.ok(d.mean < 0.4, `${w}x${h} -> ${W}x${H} ${kind}: mean diff ${d.mean}`);
      assert.ok(d.max <= 4, `${w}x${h} -> ${W}x${H} ${kind}: max diff ${d.max}`);
    }
    const near = await resizeRgb(src, W, H, 'nearest');
    const dn = diffStats(near.data, pilNearest(src.data, w, h, W, H));
    assert.equal(dn.max, 0, `${w}x${h} -> ${W}x${H} nearest differs from floor((X + 0.5) * in / out)`);
  }
});

test('resizing to the same size returns the image untouched', async () => {
  const src = img(33, 21);
  assert.equal(await resizeRgb(src, 33, 21, 'bilinear'), src);
});

test('a constant image stays constant through every resize path (edges replicate, weights sum to 1)', async () => {
  const data = new Uint8Array(50 * 20 * 3).fill(173);
  for (const [W, H] of [[17, 9], [120, 70], [25, 60]] as const) {
    for (const kind of ['bilinear', 'bicubic', 'nearest'] as const) {
      const r = await resizeRgb({ data, width: 50, height: 20 }, W, H, kind);
      assert.ok(r.data.every((v) => v === 173), `${kind} ${W}x${H}`);
    }
  }
});

test('crop takes [x1, x2) x [y1, y2) and pads outside the image with black', () => {
  const w = 5, h = 4;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set([i, 100 + i, 200], i * 3);
  const c = cropRgb({ data, width: w, height: h }, { x1: 3, y1: 2, x2: 7, y2: 5 });
  assert.equal(c.width, 4);
  assert.equal(c.height, 3);
  const at = (x: number, y: number) => Array.from(c.data.subarray((y * 4 + x) * 3, (y * 4 + x + 1) * 3));
  assert.deepEqual(at(0, 0), [2 * 5 + 3, 100 + 13, 200]); // source (3, 2)
  assert.deepEqual(at(1, 1), [3 * 5 + 4, 100 + 19, 200]); // source (4, 3)
  assert.deepEqual(at(2, 0), [0, 0, 0]); // source (5, 2) is outside
  assert.deepEqual(at(0, 2), [0, 0, 0]); // source (3, 4) is outside
});
