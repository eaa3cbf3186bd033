import { blendRgba } from '../../src/pictures/image.ts';
import { intensityRgba } from '../../src/pictures/heatmap.ts';
const n = 112 * 112;
const img = Uint8Array.from({ length: n * 3 }, (_, i) => (i * 7) % 256);
const inten = Float32Array.from({ length: n }, (_, i) => (i % 113) / 112);
const rgba = intensityRgba(inten, { opacity: 0.35, alphaFromIntensity: true });
function blend1(imageRgb: Uint8Array, n: number, layers: readonly { rgba: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(n * 3);
  const ls = layers.map((l) => l.rgba);
  const L = ls.length;
  for (let p = 0; p < n; p++) {
    let r = imageRgb[p * 3], g = imageRgb[p * 3 + 1], b = imageRgb[p * 3 + 2];
    for (let j = 0; j < L; j++) {
      const rgba = ls[j];
      const a = rgba[p * 4 + 3] / 255;
      if (a === 0) continue;
      r = rgba[p * 4] * a + r * (1 - a);
      g = rgba[p * 4 + 1] * a + g * (1 - a);
      b = rgba[p * 4 + 2] * a + b * (1 - a);
    }
    out[p * 3] = Math.round(r); out[p * 3 + 1] = Math.round(g); out[p * 3 + 2] = Math.round(b);
  }
  return out;
}
function t(name: string, f: () => Uint8Array) { for (let i = 0; i < 20; i++) f(); const s = performance.now(); for (let i = 0; i < 200; i++) f(); console.log(name, ((performance.now() - s) / 200).toFixed(3), 'ms'); return f(); }
const a = t('blendRgba', () => blendRgba(img, n, [{ rgba }]));
const b = t('blend1', () => blend1(img, n, [{ rgba }]));
console.log('same', a.every((v, i) => v === b[i]));
t('intensityRgba', () => intensityRgba(inten, { opacity: 0.35, alphaFromIntensity: true }));
