import { upsampleMap, intensityRgba, normaliseMap } from '../../src/pictures/heatmap.ts';
import { percentileBySelection, boxAtPercentile } from '../../src/pictures/strongest-region.ts';
import { percentileBox } from '../../src/pictures/percentile.ts';
import { blendRgba } from '../../src/pictures/image.ts';
const maps = Array.from({ length: 50 }, (_, j) => Float32Array.from({ length: 49 }, (_, i) => Math.sin(i * (j + 1) * 0.37) + 0.1 * j));
function time(name: string, f: (m: Float32Array) => unknown) {
  for (let r = 0; r < 3; r++) for (const m of maps) f(m);
  const t = performance.now();
  for (let r = 0; r < 10; r++) for (const m of maps) f(m);
  console.log(name.padEnd(24), ((performance.now() - t) / 500).toFixed(3), 'ms');
}
const ups = maps.map((m) => upsampleMap(m, 7, 7, 224, 224));
let i = 0;
time('upsample 224', (m) => upsampleMap(m, 7, 7, 224, 224));
time('percentile sel', () => percentileBySelection(ups[i++ % 50], 95));
time('boxAtPercentile', () => boxAtPercentile(ups[i++ % 50], 224, 224, 95));
time('percentileBox', () => percentileBox(ups[i++ % 50], 224, 224, 95));
time('upsample 112', (m) => upsampleMap(m, 7, 7, 112, 112));
const u112 = upsampleMap(maps[0], 7, 7, 112, 112);
time('normalise+intensity 112', () => intensityRgba(normaliseMap(u112, 'per-map'), { opacity: 0.35, alphaFromIntensity: true }));
const rgba = intensityRgba(normaliseMap(u112, 'per-map'), { opacity: 0.35, alphaFromIntensity: true });
const img = new Uint8Array(112 * 112 * 3).fill(100);
time('blend 112', () => blendRgba(img, 112 * 112, [{ rgba }]));
