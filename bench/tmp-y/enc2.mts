import sharp from 'sharp';
import { crop, boxOnImage } from '/work/main/src/pictures/overlay.ts';
import { resizeRgb } from '/work/main/src/data/resize.ts';
import { readdirSync } from 'node:fs';
const dir = '.cache/bench-cub-scale/data-200x30/001.class_0';
const f = readdirSync(dir)[0];
const { data } = await sharp(`${dir}/${f}`).resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const big = new Uint8Array(data);
const small = (await resizeRgb({ data: big, width: 224, height: 224 }, 112, 112, 'bilinear')).data;
const map = Float32Array.from({ length: 49 }, (_, i) => Math.sin(i));
async function time(name: string, f: () => Promise<any>, n = 200) {
  for (let i=0;i<10;i++) await f();
  const c0 = process.cpuUsage(); const t = performance.now(); let bytes = 0;
  for (let i=0;i<n;i++) bytes += (await f()).length;
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(28), 'wall ms', ((performance.now()-t)/n).toFixed(2), 'cpu ms', ((c.user+c.system)/1000/n).toFixed(2), 'bytes', Math.round(bytes/n));
}
const box = { x: 50, y: 60, width: 60, height: 60 };
await time('crop 60 webp q80', () => crop(big, 224, 224, box, 1, 'cubic', { format: 'webp', quality: 80 }));
await time('crop 60 png', () => crop(big, 224, 224, box, 1, 'cubic', { format: 'png' }));
await time('context 112 webp', () => boxOnImage(small, 112, 112, { x: 25, y: 30, width: 30, height: 30 }, { heatmap: { map, height: 7, width: 7 }, encoding: { format: 'webp', quality: 80 } }));
await time('context 112 no heat webp', () => boxOnImage(small, 112, 112, { x: 25, y: 30, width: 30, height: 30 }, { encoding: { format: 'webp', quality: 80 } }));
await time('webp 112 raw only', () => sharp(Buffer.from(small), { raw: { width: 112, height: 112, channels: 3 } }).webp({ quality: 80, effort: 4 }).toBuffer());
await time('jpeg 112 raw only', () => sharp(Buffer.from(small), { raw: { width: 112, height: 112, channels: 3 } }).jpeg({ quality: 80 }).toBuffer());
await time('webp 224 raw only', () => sharp(Buffer.from(big), { raw: { width: 224, height: 224, channels: 3 } }).webp({ quality: 80, effort: 4 }).toBuffer(), 50);
// atlas: 50 crops 64x64 in a 640x320 sheet
const sheet = new Uint8Array(640*320*3); for (let i=0;i<sheet.length;i++) sheet[i] = big[i % big.length];
await time('webp atlas 640x320', () => sharp(Buffer.from(sheet), { raw: { width: 640, height: 320, channels: 3 } }).webp({ quality: 80, effort: 4 }).toBuffer(), 20);
