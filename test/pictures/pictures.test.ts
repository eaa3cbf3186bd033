// The pictures themselves, decoded back with sharp: overlay with its box, combined view on a planted
// left/right map, crops and exemplar context pictures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { CATEGORICAL_PALETTE, parseHexColour } from '../../src/pictures/palette.ts';
import { boxOnImage, crop, overlay } from '../../src/pictures/overlay.ts';
import { combinedView } from '../../src/pictures/combined.ts';
import { strongestPrototype } from '../../src/pictures/combined-layers.ts';
import { percentileBox, type Box } from '../../src/pictures/percentile.ts';
import { upsampleMap } from '../../src/pictures/heatmap.ts';
import { viridis } from '../../src/pictures/colormap.ts';
import { InputError } from '../../src/util/errors.ts';

async function decode(png: Buffer): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, 'png');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}
const px = (img: { data: Uint8Array; width: number; channels: number }, x: number, y: number) => {
  const i = (y * img.width + x) * img.channels;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
};
const near = (a: number[], b: readonly number[], tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** A textured RGB test image: each pixel's colour encodes its position. */
function patternImage(w: number, h: number): Uint8Array {
  const img = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      img[(y * w + x) * 3] = (x * 7) & 255;
      img[(y * w + x) * 3 + 1] = (y * 5) & 255;
      img[(y * w + x) * 3 + 2] = (x + y) & 255;
    }
  }
  return img;
}

function borderPixels(b: Box, lw: number): [number, number][] {
  const out: [number, number][] = [];
  for (let y = b.y; y < b.y + b.height; y++) {
    for (let x = b.x; x < b.x + b.width; x++) {
      const onBorder = x < b.x + lw || x >= b.x + b.width - lw || y < b.y + lw || y >= b.y + b.height - lw;
      if (onBorder) out.push([x, y]);
    }
  }
  return out;
}

test('overlay: PNG of the image size, box outline exactly on the 95th-percentile box, heatmap blended', async () => {
  const w = 96, h = 64, mh = 4, mw = 6;
  const grey = new Uint8Array(w * h * 3).fill(128);
  const map = new Float32Array(mh * mw).fill(-0.5);
  map[1 * mw + 4] = 3; // hot cell: row 1, column 4 -> image block x 64..79, y 16..31
  const box = percentileBox(upsampleMap(map, mh, mw, w, h), w, h, 95);
  const img = await decode(await overlay(grey, w, h, map, mh, mw));
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  assert.equal(img.channels, 3);
  // The box sits on the hot block.
  assert.ok(box.x >= 56 && box.x + box.width <= 88 && box.y >= 8 && box.y + box.height <= 40, JSON.stringify(box));
  const red = [255, 0, 0];
  for (const [x, y] of borderPixels(box, 2)) assert.deepEqual(px(img, x, y), red, `outline pixel (${x}, ${y})`);
  // Just outside and just inside the outline: not the box colour.
  for (const [x, y] of [[box.x - 1, box.y + 3], [box.x + box.width, box.y + 3], [box.x + 3, box.y - 1], [box.x + 3, box.y + box.height], [box.x + 2, box.y + 2]]) {
    assert.notDeepEqual(px(img, x, y), red, `(${x}, ${y})`);
  }
  // Heatmap at the peak: viridis yellow at alpha 0.7 over grey; far away (intensity 0): the grey image.
  const up = upsampleMap(map, mh, mw, w, h);
  let arg = 0;
  for (let i = 1; i < up.length; i++) if (up[i] > up[arg]) arg = i;
  const top = viridis(1).map((c) => 0.7 * c + 0.3 * 128);
  assert.ok(near(px(img, arg % w, Math.floor(arg / w)), top, 2), `${px(img, arg % w, Math.floor(arg / w))} vs ${top}`);
  // Row 56 is far from the hot cell: intensity ~0 there (the map's minimum is near it).
  let minI = 0;
  for (let i = 1; i < up.length; i++) if (up[i] < up[minI]) minI = i;
  assert.ok(near(px(img, minI % w, Math.floor(minI / w)), [128, 128, 128], 1));
});

test('overlay options: scale, explicit box, custom colour and width, no box', async () => {
  const w = 40, h = 30, image = patternImage(w, h);
  const map = new Float32Array(12).map((_, i) => i);
  const box = { x: 5, y: 4, width: 20, height: 10 };
  const img = await decode(await overlay(image, w, h, map, 3, 4, { scale: 2, box, boxColour: '#00ff00', boxWidth: 3 }));
  assert.equal(img.width, 80);
  assert.equal(img.height, 60);
  for (const [x, y] of borderPixels({ x: 10, y: 8, width: 40, height: 20 }, 3)) assert.deepEqual(px(img, x, y), [0, 255, 0], `(${x}, ${y})`);
  assert.notDeepEqual(px(img, 13, 11), [0, 255, 0]);
  // No box: the picture is the plain blend, so no pixel has the outline colour exactly.
  const none = await decode(await overlay(new Uint8Array(w * h * 3).fill(128), w, h, map, 3, 4, { box: null }));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.notDeepEqual(px(none, x, y), [255, 0, 0]);
  await assert.rejects(overlay(image, w, h, map, 3, 4, { box: { x: 30, y: 0, width: 20, height: 5 } }), /overlay box: .* inside the 40 x 30 image/);
  await assert.rejects(overlay(image.subarray(1), w, h, map, 3, 4), (e: unknown) => e instanceof InputError && /overlay: image buffer has 3599 bytes, expected .* 3600/.test(e.message));
  await assert.rejects(overlay(image, w, h, map, 3, 3), /heatmap: map has 12 values, expected height x width = 3 x 3 = 9/);
});

test('combined view: pixel colours follow the argmax of a planted left/right pair', async () => {
  const w = 64, h = 48, mh = 6, mw = 8;
  const grey = 100;
  const image = new Uint8Array(w * h * 3).fill(grey);
  const data = new Float32Array(2 * mh * mw);
  // Prototype 0 is 1 on the left half of the map, prototype 1 on the right half. Upsampled, the two
  // maps sum to 1 everywhere (cubic weights sum to one), so p0 wins exactly where it exceeds 0.5:
  // by symmetry, exactly the left half of the picture.
  for (let y = 0; y < mh; y++) for (let x = 0; x < mw; x++) data[(x < mw / 2 ? 0 : 1) * mh * mw + y * mw + x] = 1;
  const maps = { data, k: 2, height: mh, width: mw };
  const { winner } = strongestPrototype(maps, w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.equal(winner[y * w + x], x < w / 2 ? 0 : 1, `(${x}, ${y})`);

  const png = await combinedView(image, w, h, maps, [0.75, -0.25], ['P0', 'P1'], { alpha: 'constant', opacity: 0.5, legend: false });
  const img = await decode(png);
  assert.equal(img.width, w);
  assert.equal(img.height, h);
  const c0 = parseHexColour(CATEGORICAL_PALETTE[0]), c1 = parseHexColour(CATEGORICAL_PALETTE[1]);
  const blend = (c: readonly number[]) => c.map((v) => 0.5 * v + 0.5 * grey);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) assert.ok(near(px(img, x, y), blend(x < w / 2 ? c0 : c1), 1), `(${x}, ${y}): ${px(img, x, y)}`);
  }

  // Default options: strength alpha, legend drawn below with the palette swatches and dark text.
  const full = await decode(await combinedView(image, w, h, maps, [0.75, -0.25], ['P0', 'P1 <wing>']));
  assert.ok(full.height > h + 30, `legend height: ${full.height - h}`);
  assert.ok(full.width >= w);
  let sw0 = 0, sw1 = 0, dark = 0;
  for (let y = h; y < full.height; y++) {
    for (let x = 0; x < full.width; x++) {
      const p = px(full, x, y);
      if (near(p, c0, 0)) sw0++;
      if (near(p, c1, 0)) sw1++;
      if (p[0] < 60 && p[1] < 60 && p[2] < 60) dark++;
    }
  }
  assert.ok(sw0 >= 50 && sw1 >= 50, `swatch pixels ${sw0}, ${sw1}`);
  assert.ok(dark > 100, `text pixels ${dark} (fonts must render through librsvg)`);
  // Every picture pixel is nearer its winner's colour than the other prototype's.
  for (let y = 0; y < h; y += 3) {
    for (let x = 0; x < w; x += 3) {
      const p = px(full, x, y);
      const [mine, other] = x < w / 2 ? [c0, c1] : [c1, c0];
      const d = (c: readonly number[]) => Math.hypot(p[0] - c[0], p[1] - c[1], p[2] - c[2]);
      assert.ok(d(mine) < d(other), `(${x}, ${y})`);
    }
  }
});

test('combined view: pixels where every map is <= 0 stay uncoloured (option)', async () => {
  const w = 32, h = 32, mh = 4, mw = 4;
  const image = patternImage(w, h);
  const data = new Float32Array(2 * mh * mw).fill(-1);
  data[0] = 2; // prototype 0 positive in the top-left cell only
  data[mh * mw + 1] = 1; // prototype 1 positive in the next cell
  const maps = { data, k: 2, height: mh, width: mw };
  const a = strongestPrototype(maps, w, h);
  assert.equal(a.winner[31 * w + 31], -1);
  assert.equal(a.winner[0], 0);
  const img = await decode(await combinedView(image, w, h, maps, [1, 2], ['a', 'b'], { legend: false }));
  // Bottom-right quarter: all maps negative -> exactly the image.
  for (let y = 20; y < 32; y++) for (let x = 20; x < 32; x++) assert.ok(near(px(img, x, y), [...image.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)], 1));
  const all = strongestPrototype(maps, w, h, { positiveOnly: false });
  assert.ok(all.winner.every((v) => v >= 0));
  await assert.rejects(combinedView(image, w, h, maps, [1], ['a', 'b']), /1 contributions for 2 maps/);
  await assert.rejects(combinedView(image, w, h, { ...maps, k: 3 }, [1, 2, 3], ['a', 'b', 'c']), /k x height x width = 3 x 4 x 4/);
});

test('crop returns the exact patch; boxOnImage outlines it on the whole image', async () => {
  const w = 50, h = 40, image = patternImage(w, h);
  const box = { x: 7, y: 9, width: 13, height: 11 };
  const patch = await decode(await crop(image, w, h, box));
  assert.equal(patch.width, 13);
  assert.equal(patch.height, 11);
  for (let y = 0; y < 11; y++) {
    for (let x = 0; x < 13; x++) {
      const s = ((y + 9) * w + (x + 7)) * 3;
      assert.deepEqual(px(patch, x, y), [image[s], image[s + 1], image[s + 2]]);
    }
  }
  const big = await decode(await crop(image, w, h, box, 3));
  assert.equal(big.width, 39);
  assert.equal(big.height, 33);
  await assert.rejects(crop(image, w, h, { x: 45, y: 0, width: 10, height: 5 }), /crop box: .* inside the 50 x 40 image/);
  await assert.rejects(crop(image, w, h, { x: 0.5, y: 0, width: 10, height: 5 }), /crop box: x, y, width and height must be integers/);

  const map = new Float32Array(16).map((_, i) => (i === 5 ? 1 : 0));
  const ctx = await decode(await boxOnImage(image, w, h, box, { heatmap: { map, height: 4, width: 4 }, scale: 2 }));
  assert.equal(ctx.width, 100);
  assert.equal(ctx.height, 80);
  for (const [x, y] of borderPixels({ x: 14, y: 18, width: 26, height: 22 }, 2)) assert.deepEqual(px(ctx, x, y), [255, 0, 0], `(${x}, ${y})`);
  // Without a heatmap, pixels outside the outline are the image's own.
  const plain = await decode(await boxOnImage(image, w, h, box));
  assert.deepEqual(px(plain, 40, 35), [...image.subarray((35 * w + 40) * 3, (35 * w + 40) * 3 + 3)]);
});
