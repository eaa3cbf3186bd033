// Pillow-exact resize (src/data/resize.ts, WebAssembly) against sharp's libvips resize of the same
// image (not Pillow-exact: the previous implementation's reducing step), per image, medians of
// repeated runs. Prints JSON.
import sharp from 'sharp';
import { resizeRgb } from '../src/data/resize.ts';

const cases: [number, number, number, number, 'bilinear' | 'bicubic'][] = [
  [500, 375, 224, 224, 'bilinear'],
  [500, 375, 224, 224, 'bicubic'],
  [720, 477, 386, 256, 'bilinear'],
  [100, 80, 224, 224, 'bilinear'],
];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const results = [];
for (const [w, h, W, H, f] of cases) {
  const data = new Uint8Array(w * h * 3).map((_, i) => (i * 2654435761) >>> 24);
  const img = { data, width: w, height: h };
  const ours: number[] = [];
  const vips: number[] = [];
  for (let r = 0; r < 40; r++) {
    let t = performance.now();
    await resizeRgb(img, W, H, f);
    ours.push(performance.now() - t);
    t = performance.now();
    await sharp(data, { raw: { width: w, height: h, channels: 3 } }).resize(W, H, { fit: 'fill', kernel: f === 'bilinear' ? 'linear' : 'cubic' }).raw().toBuffer();
    vips.push(performance.now() - t);
  }
  results.push({ case: `${w}x${h} -> ${W}x${H} ${f}`, pillowExactMs: +median(ours.slice(5)).toFixed(3), sharpMs: +median(vips.slice(5)).toFixed(3) });
}
console.log(JSON.stringify({ bench: 'resize', node: process.version, results }, null, 2));
