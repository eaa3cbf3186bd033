import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { combinedView } from '../../src/pictures/combined.ts';

/** Rightmost column holding a dark (text) pixel in rows [y0, height). */
function rightmostInk(data: Buffer, width: number, height: number, y0: number): number {
  let right = -1;
  for (let y = y0; y < height; y++) for (let x = 0; x < width; x++) {
    const o = (y * width + x) * 3;
    if (data[o] < 100 && data[o + 1] < 100 && data[o + 2] < 100) right = Math.max(right, x);
  }
  return right;
}

for (const [size, scale, label] of [[64, 4, 'prototype 0'], [32, 7, 'a much longer prototype label 0'], [224, 1, 'p0']] as const) {
  test(`combined-view legend text stays inside the picture (input ${size}, scale ${scale})`, async () => {
    const img = new Uint8Array(size * size * 3).fill(200);
    const data = Float32Array.from({ length: 2 * 8 * 8 }, (_, i) => Math.sin(i));
    const png = await combinedView(img, size, size, { data, k: 2, height: 8, width: 8 }, [0.123456, -1234.5], [label, 'prototype 1'], { scale });
    const { data: raw, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const pictureHeight = Math.round(size * scale);
    const right = rightmostInk(raw, info.width, info.height, pictureHeight);
    assert.ok(right > 0, 'the legend has text');
    assert.ok(right < info.width - 3, `text reaches column ${right} of ${info.width}: clipped`);
    assert.ok(info.height - pictureHeight < pictureHeight * 1.5 + 120, 'the legend stays in proportion to the picture');
  });
}
