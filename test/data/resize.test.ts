import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cropRgb, resizeRgb } from '../../src/data/resize.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Interpolation } from '../../src/data/preprocess-config.ts';
import { texture } from './helpers.ts';

const img = (w: number, h: number) => ({ data: new Uint8Array(texture(w, h)), width: w, height: h });

test('resize is bit-identical to Pillow 9.4 (bilinear, bicubic, nearest) on committed fixtures: reducing, enlarging, mixed, one axis, 1-pixel', async () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/pillow-resize.json', import.meta.url), 'utf8')) as {
    pillow: string;
    cases: { source: string; width: number; height: number; filter: Interpolation; sha256: string; hex?: string }[];
  };
  assert.equal(fixture.pillow, '9.4.0');
  assert.equal(fixture.cases.length, 33);
  const sources = new Map<string, { data: Uint8Array; width: number; height: number }>();
  for (const c of fixture.cases) {
    if (!sources.has(c.source)) {
      const { data, info } = await sharp(fileURLToPath(new URL(`./fixtures/${c.source}`, import.meta.url))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      sources.set(c.source, { data: new Uint8Array(data), width: info.width, height: info.height });
    }
    const src = sources.get(c.source)!;
    const ours = await resizeRgb(src, c.width, c.height, c.filter);
    assert.deepEqual([ours.width, ours.height], [c.width, c.height]);
    const what = `${c.source} ${src.width}x${src.height} -> ${c.width}x${c.height} ${c.filter}`;
    if (c.hex !== undefined) {
      const want = Buffer.from(c.hex, 'hex');
      let differing = 0;
      for (let i = 0; i < want.length; i++) if (want[i] !== ours.data[i]) differing++;
      assert.equal(differing, 0, `${what}: ${differing} of ${want.length} values differ from Pillow`);
    }
    assert.equal(createHash('sha256').update(ours.data).digest('hex'), c.sha256, `${what}: differs from Pillow`);
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
