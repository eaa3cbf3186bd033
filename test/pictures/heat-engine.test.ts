// The heatmap laid over an image in the WebAssembly engine (heatmapOverImage, the exemplar context
// pictures) against the JavaScript path it replaces: heatmapRgba's layer blended by blendRgba.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { heatmapOverImage, heatmapRgba, type HeatmapOptions } from '../../src/pictures/heatmap.ts';
import { blendRgba } from '../../src/pictures/image.ts';
import { boxOnImage } from '../../src/pictures/overlay.ts';
import { paintBoxOutline } from '../../src/pictures/layers.ts';
import { VIRIDIS_LUT } from '../../src/pictures/colormap.ts';
import { InputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';

const rng = new Rng(17);
const image = (w: number, h: number) => Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));

test('heatmapOverImage gives the bytes of the JavaScript layer and blend (sizes, ranges, opacities, ties, flat maps)', () => {
  const sizes: [number, number, number, number][] = [[7, 7, 112, 112], [7, 7, 112, 84], [14, 14, 14, 14], [3, 5, 13, 6], [7, 7, 224, 224]];
  const options: HeatmapOptions[] = [
    { opacity: 0.35 },
    { opacity: 0.7, alphaFromIntensity: false },
    { opacity: 1 },
    { opacity: 0 },
    { opacity: 0.5, normalisation: { min: -0.5, max: 0.8 } },
    { opacity: 0.9, normalisation: { min: 2, max: 2 } },
  ];
  let pixels = 0;
  for (const [h, w, H, W] of sizes) {
    const img = image(W, H);
    for (let m = 0; m < 4; m++) {
      const map = Float32Array.from({ length: h * w }, (_, i) => (m === 1 ? (i % 3) - 1 : m === 2 ? 3 : m === 3 ? rng.normal() * 1e20 : rng.normal()));
      for (const opts of options) {
        const engine = heatmapOverImage(img, W, H, map, h, w, opts);
        const js = blendRgba(img, W * H, [{ rgba: heatmapRgba(map, h, w, W, H, opts) }]);
        assert.deepEqual(engine, js, `${h}x${w} -> ${H}x${W}, map ${m}, ${JSON.stringify(opts)}`);
        pixels += W * H;
      }
    }
  }
  assert.ok(pixels > 1_000_000);
});

test('heatmapOverImage by hand: the weakest pixel keeps the image, the strongest takes viridis yellow at the opacity', () => {
  const img = Uint8Array.from([10, 20, 30, 200, 100, 0]);
  const out = heatmapOverImage(img, 2, 1, Float32Array.from([-1, 3]), 1, 2, { opacity: 0.5 });
  const a = 128 / 255; // alpha round(255 x 0.5 x 1)
  const yellow = [...VIRIDIS_LUT.subarray(255 * 3, 256 * 3)];
  assert.deepEqual([...out.subarray(0, 3)], [10, 20, 30]);
  assert.deepEqual([...out.subarray(3)], [200, 100, 0].map((v, c) => Math.round(yellow[c] * a + v * (1 - a))));
  assert.deepEqual(yellow, [253, 231, 37]);
});

test('heatmapOverImage refuses what the JavaScript path refuses', () => {
  const img = image(4, 4);
  assert.throws(() => heatmapOverImage(img, 4, 4, Float32Array.from([1, NaN, 0, 0]), 2, 2), InputError);
  assert.throws(() => heatmapOverImage(img, 4, 4, new Float32Array(3), 2, 2), InputError);
  assert.throws(() => heatmapOverImage(img, 4, 4, new Float32Array(4), 2, 2, { opacity: 1.5 }), /opacity/);
  assert.throws(() => heatmapOverImage(img, 4, 4, new Float32Array(4), 2, 2, { normalisation: { min: 0, max: Infinity } }), /normalisation/);
  assert.throws(() => heatmapOverImage(img.subarray(1), 4, 4, new Float32Array(4), 2, 2), /expected width x height x 3/);
});

test('an exemplar context at the image size is the heatmap layer with its box painted in, blended', async () => {
  const [w, h] = [112, 84];
  const img = image(w, h);
  const map = Float32Array.from({ length: 49 }, () => rng.normal());
  const box = { x: 20, y: 11, width: 40, height: 30 };
  const png = await boxOnImage(img, w, h, box, { heatmap: { map, height: 7, width: 7 } });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [w, h, 3]);
  const layer = heatmapRgba(map, 7, 7, w, h, { opacity: 0.35, alphaFromIntensity: true });
  paintBoxOutline(layer, w, h, box, [255, 0, 0], 2);
  assert.deepEqual(new Uint8Array(data), blendRgba(img, w * h, [{ rgba: layer }]));
  assert.deepEqual([...data.subarray((11 * w + 20) * 3, (11 * w + 20) * 3 + 3)], [255, 0, 0]);
});
