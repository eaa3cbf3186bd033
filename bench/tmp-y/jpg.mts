import sharp from 'sharp';
import { readdirSync } from 'node:fs';
import { encodeJpeg, decodeJpeg } from '../../src/data/load.ts';
const dir = '.cache/bench-cub-scale/data-200x30/001.class_0';
const f = readdirSync(dir)[0];
const { data } = await sharp(`${dir}/${f}`).resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
const rgb = { data: new Uint8Array(data), width: 224, height: 224 };
async function time(name: string, fn: () => Promise<any>, n = 200) {
  for (let i = 0; i < 20; i++) await fn();
  const c0 = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  console.log(name.padEnd(20), 'wall', ((performance.now() - t) / n).toFixed(2), 'cpu', ((c.user + c.system) / 1000 / n).toFixed(2));
}
await time('encodeJpeg q90', () => encodeJpeg(rgb, 90));
const j = await encodeJpeg(rgb, 90);
await time('decodeJpeg', () => decodeJpeg(j));
await time('decode original', () => sharp(`${dir}/${f}`).raw().toBuffer());
