// Numerical building blocks of the pictures: percentile and box, bicubic upsampling, viridis,
// categorical palette, heatmap normalisation and alpha.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATEGORICAL_PALETTE, parseHexColour } from '../../src/pictures/palette.ts';
import { VIRIDIS_LUT, viridis } from '../../src/pictures/colormap.ts';
import { heatmapRgba, normaliseMap, sharedScale, upsampleMap } from '../../src/pictures/heatmap.ts';
import { percentile, percentileBox } from '../../src/pictures/percentile.ts';
import { prototypeBox } from '../../src/pictures/overlay-layers.ts';
import { resizeBicubic } from '../../src/pictures/upsample.ts';
import { InputError } from '../../src/util/errors.ts';

test('percentile follows numpy linear interpolation (hand-computed cases)', () => {
  // np.percentile([1, 2, 3, 4], 95): r = 0.95 * 3 = 2.85 -> 3 + 0.85 * (4 - 3) = 3.85
  assert.ok(Math.abs(percentile([4, 1, 3, 2], 95) - 3.85) < 1e-12);
  // np.percentile([0, 10], 33) = 3.3
  assert.ok(Math.abs(percentile([10, 0], 33) - 3.3) < 1e-12);
  // r integer: np.percentile(range(21), 95) -> r = 19 exactly -> 19
  assert.equal(percentile(Array.from({ length: 21 }, (_, i) => 20 - i), 95), 19);
  assert.equal(percentile([5, -1, 2], 0), -1);
  assert.equal(percentile([5, -1, 2], 100), 5);
  assert.equal(percentile([7], 95), 7);
  assert.throws(() => percentile([], 50), InputError);
  assert.throws(() => percentile([1, NaN], 50), /NaN/);
  assert.throws(() => percentile([1, 2], 101), /pct/);
});

test('percentileBox on a small map, by hand', () => {
  // 5 wide x 4 high, values 1..20 scattered; the two largest (20 at x=1,y=0 and 19 at x=3,y=2).
  // 90th percentile: r = 0.9 * 19 = 17.1 -> v[17] + 0.1 (v[18] - v[17]) = 18 + 0.1 = 18.1, so only 19 and 20 qualify.
  const w = 5, h = 4;
  const m = new Float32Array([
    3, 20, 1, 4, 5,
    6, 7, 8, 9, 10,
    11, 12, 13, 19, 2,
    14, 15, 16, 17, 18,
  ]);
  assert.deepEqual(percentileBox(m, w, h, 90), { x: 1, y: 0, width: 3, height: 3 });
  // 95th: r = 18.05 -> 19.05: only the 20 at (1, 0).
  assert.deepEqual(percentileBox(m, w, h), { x: 1, y: 0, width: 1, height: 1 });
  // 80th: r = 15.2 -> 16.2: values 17..20 at (3,3), (4,3), (3,2), (1,0).
  assert.deepEqual(percentileBox(m, w, h, 80), { x: 1, y: 0, width: 4, height: 4 });
  // Ties: a flat map selects every pixel.
  assert.deepEqual(percentileBox(new Float32Array(12).fill(-2), 4, 3), { x: 0, y: 0, width: 4, height: 3 });
  assert.throws(() => percentileBox(m, 4, 4), /expected width x height = 4 x 4 = 16/);
  assert.throws(() => percentileBox(new Float32Array([1, Infinity]), 2, 1), /pixel \(1, 0\)/);
});

test('bicubic upsampling matches OpenCV INTER_CUBIC (a = -0.75) computed by hand', () => {
  // [0, 1] -> 4: output d samples source x = (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 with
  // Keys weights k(0.25) = 0.87890625, k(0.75) = 0.26171875, k(1.25) = -0.10546875, k(1.75) = -0.03515625,
  // border replicated: d0 = k(1.25) = -0.10546875, d1 = k(0.75) + k(1.75) = 0.2265625, symmetric for d2, d3.
  const out = resizeBicubic(new Float32Array([0, 1]), 1, 2, 1, 4);
  const want = [-0.10546875, 0.2265625, 0.7734375, 1.10546875];
  want.forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-6, `d${i}: ${out[i]} vs ${v}`));
  // Constant maps stay constant (weights sum to one, borders replicated).
  const c = resizeBicubic(new Float32Array(49).fill(2.5), 7, 7, 224, 224);
  assert.ok(c.every((v) => Math.abs(v - 2.5) < 1e-5));
  // Separable: an outer product resizes to the outer product of the 1-D resizes.
  const a = new Float32Array([1, -2, 0.5]), b = new Float32Array([3, 1, 0, -1]);
  const m = new Float32Array(12);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) m[y * 4 + x] = a[y] * b[x];
  const r2 = resizeBicubic(m, 3, 4, 7, 9);
  const ra = resizeBicubic(a, 3, 1, 7, 1), rb = resizeBicubic(b, 1, 4, 1, 9);
  for (let y = 0; y < 7; y++) for (let x = 0; x < 9; x++) assert.ok(Math.abs(r2[y * 9 + x] - ra[y] * rb[x]) < 1e-5);
  // A single hot cell of a 7 x 7 map peaks at the centre of its 32 x 32 block at 224.
  const hot = new Float32Array(49);
  hot[2 * 7 + 5] = 1;
  const up = upsampleMap(hot, 7, 7, 224, 224);
  let arg = 0;
  for (let i = 1; i < up.length; i++) if (up[i] > up[arg]) arg = i;
  assert.ok(Math.abs((arg % 224) - (5 * 32 + 15.5)) <= 0.5 && Math.abs(Math.floor(arg / 224) - (2 * 32 + 15.5)) <= 0.5);
  assert.throws(() => upsampleMap(new Float32Array(48), 7, 7, 10, 10), /heatmap: map has 48 values, expected height x width = 7 x 7 = 49/);
});

test('prototypeBox of a hot cell covers its block on the image', () => {
  const hot = new Float32Array(49).fill(-1);
  hot[3 * 7 + 1] = 4;
  const box = prototypeBox(hot, 7, 7, 224, 224);
  // The 95th percentile of 224^2 pixels keeps ~2509 pixels around the peak at (47.5, 111.5).
  const cx = box.x + (box.width - 1) / 2, cy = box.y + (box.height - 1) / 2;
  assert.ok(Math.abs(cx - 47.5) <= 1 && Math.abs(cy - 111.5) <= 1, JSON.stringify(box));
  assert.ok(box.width * box.height >= 0.05 * 224 * 224 && box.width < 80 && box.height < 80, JSON.stringify(box));
});

function srgbToLinear(c: number): number {
  const s = c / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}
function lightness(r: number, g: number, b: number): number {
  const Y = 0.2126 * srgbToLinear(r) + 0.7152 * srgbToLinear(g) + 0.0722 * srgbToLinear(b);
  return Y > 216 / 24389 ? 116 * Math.cbrt(Y) - 16 : (24389 / 27) * Y;
}

test('viridis: published endpoints and stops, monotone lightness', () => {
  assert.deepEqual(viridis(0), [0x44, 0x01, 0x54]);
  assert.deepEqual(viridis(1), [0xfd, 0xe7, 0x25]);
  assert.deepEqual(viridis(-3), viridis(0));
  assert.deepEqual(viridis(NaN), viridis(0));
  // matplotlib's viridis(np.linspace(0, 1, 10)) as published (e.g. plotly's sequential.Viridis);
  // matplotlib samples index int(t * 256), clipped to 255.
  const published = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
  published.forEach((hex, j) => {
    const idx = Math.min(255, Math.floor((j / 9) * 256));
    const want = parseHexColour(hex);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(VIRIDIS_LUT[idx * 3 + c] - want[c]) <= 2, `stop ${j} channel ${c}: ${VIRIDIS_LUT[idx * 3 + c]} vs ${want[c]}`);
  });
  // CIE L* rises through the map: never drops by more than 8-bit rounding noise (0.1), and rises by
  // more than 0.5 over every 4 levels (matplotlib's own table quantised to 8 bits has the same noise).
  const L = Array.from({ length: 256 }, (_, i) => lightness(VIRIDIS_LUT[i * 3], VIRIDIS_LUT[i * 3 + 1], VIRIDIS_LUT[i * 3 + 2]));
  for (let i = 1; i < 256; i++) assert.ok(L[i] >= L[i - 1] - 0.1, `level ${i}`);
  for (let i = 4; i < 256; i++) assert.ok(L[i] - L[i - 4] > 0.5, `levels ${i - 4}..${i}`);
  assert.ok(L[255] - L[0] > 70);
});

function lab(hex: string): [number, number, number] {
  const [r, g, b] = parseHexColour(hex).map(srgbToLinear);
  const X = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const Y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const Z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  return [116 * f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))];
}

test('categorical palette: 20 distinct colours, Okabe-Ito first', () => {
  assert.equal(CATEGORICAL_PALETTE.length, 20);
  assert.deepEqual(CATEGORICAL_PALETTE.slice(0, 7).map((c) => c.toUpperCase()), ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7']);
  let minDist = Infinity;
  for (let i = 0; i < 20; i++) {
    for (let j = i + 1; j < 20; j++) {
      const a = lab(CATEGORICAL_PALETTE[i]), b = lab(CATEGORICAL_PALETTE[j]);
      minDist = Math.min(minDist, Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]));
    }
  }
  assert.ok(minDist > 25, `smallest CIELAB distance ${minDist}`);
  assert.throws(() => parseHexColour('red', 'boxColour'), /boxColour: expected a colour/);
});

test('heatmap: per-map normalisation, shared scale, alpha from intensity', () => {
  const a = new Float32Array([0, 1, 2, 3, -1, 0, 1, 2, 4]);
  const rgba = heatmapRgba(a, 3, 3, 3, 3, { opacity: 0.8 });
  assert.equal(rgba.length, 3 * 3 * 4);
  // Same size: values pass through; min (-1, index 4) -> viridis(0), alpha 0; max (4, index 8) -> viridis(1), alpha 204.
  assert.deepEqual([...rgba.subarray(16, 20)], [...viridis(0), 0]);
  assert.deepEqual([...rgba.subarray(32, 36)], [...viridis(1), Math.round(255 * 0.8)]);
  // value 1.5 would be 0.5; value 1 (index 1) is 0.4 -> alpha round(255 * 0.8 * 0.4) = 82.
  assert.equal(rgba[1 * 4 + 3], 82);
  // Shared scale: a map half as strong reaches half the alpha of the stronger one.
  const b = a.map((v) => v / 2);
  const s = sharedScale([a, b]);
  assert.deepEqual(s, { min: -1, max: 4 });
  const ra = heatmapRgba(a, 3, 3, 3, 3, { normalisation: s, opacity: 1 });
  const rb = heatmapRgba(b, 3, 3, 3, 3, { normalisation: s, opacity: 1 });
  assert.equal(ra[8 * 4 + 3], 255);
  assert.equal(rb[8 * 4 + 3], Math.round(255 * (2 + 1) / 5));
  // Constant alpha option and a flat map (nothing to show).
  assert.ok(heatmapRgba(a, 3, 3, 3, 3, { alphaFromIntensity: false, opacity: 0.5 }).every((v, i) => i % 4 !== 3 || v === 128));
  assert.ok(normaliseMap(new Float32Array(5).fill(3)).every((v) => v === 0));
  assert.throws(() => heatmapRgba(a, 3, 3, 3, 3, { opacity: 2 }), /heatmap opacity: expected a number in \[0, 1\]/);
  assert.throws(() => normaliseMap(a, { min: 0, max: NaN }), /heatmap normalisation/);
});
