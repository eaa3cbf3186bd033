import sharp from 'sharp';
import { encodePicture } from '/work/main/src/pictures/image.ts';
import { crop } from '/work/main/src/pictures/overlay.ts';
const rgb = new Uint8Array(112*84*3); for (let i=0;i<rgb.length;i++) rgb[i]=(i*7919)%251;
const big = new Uint8Array(224*224*3); for (let i=0;i<big.length;i++) big[i]=(i*31+(i>>9))%256;
const t0 = process.cpuUsage();
async function time(name: string, f: () => Promise<unknown>, n = 200) {
  for (let i=0;i<10;i++) await f();
  const c0 = process.cpuUsage(); const t = performance.now();
  for (let i=0;i<n;i++) await f();
  const c = process.cpuUsage(c0);
  console.log(name, 'wall ms', ((performance.now()-t)/n).toFixed(2), 'cpu ms', ((c.user+c.system)/1000/n).toFixed(2));
}
for (const effort of [4, 2, 0]) await time(`ctx webp e${effort}`, () => sharp(Buffer.from(rgb.buffer), { raw: { width: 112, height: 84, channels: 3 } }).webp({ quality: 80, effort }).toBuffer());
await time('ctx jpeg', () => sharp(Buffer.from(rgb.buffer), { raw: { width: 112, height: 84, channels: 3 } }).jpeg({ quality: 80 }).toBuffer());
await time('crop 60 webp', () => crop(big, 224, 224, { x: 50, y: 60, width: 60, height: 60 }, 1, 'cubic', { format: 'webp', quality: 80 }));
await time('raw copy 224 sharp', () => sharp(Buffer.from(big.buffer), { raw: { width: 224, height: 224, channels: 3 } }).raw().toBuffer());
console.log(sharp.concurrency(), JSON.stringify(sharp.cache()));
