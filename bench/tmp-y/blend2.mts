import { blendRgba } from '../../src/pictures/image.ts';
import { intensityRgba } from '../../src/pictures/heatmap.ts';
const n = 112 * 112;
const img = Uint8Array.from({ length: n * 3 }, (_, i) => (i * 7) % 256);
const inten = Float32Array.from({ length: n }, (_, i) => (i % 113) / 112);
const rgba = intensityRgba(inten, { opacity: 0.35, alphaFromIntensity: true });
function blendOne(imageRgb: Uint8Array, n: number, rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let p = 0, q = 0, o = 0; p < n; p++, q += 4, o += 3) {
    const a = rgba[q + 3] / 255;
    if (a === 0) { out[o] = imageRgb[o]; out[o + 1] = imageRgb[o + 1]; out[o + 2] = imageRgb[o + 2]; continue; }
    const b = 1 - a;
    out[o] = Math.round(rgba[q] * a + imageRgb[o] * b);
    out[o + 1] = Math.round(rgba[q + 1] * a + imageRgb[o + 1] * b);
    out[o + 2] = Math.round(rgba[q + 2] * a + imageRgb[o + 2] * b);
  }
  return out;
}
function t(name: string, f: () => Uint8Array) { for (let i = 0; i < 50; i++) f(); const s = performance.now(); for (let i = 0; i < 500; i++) f(); console.log(name, ((performance.now() - s) / 500).toFixed(3), 'ms'); return f(); }
const a = t('blendRgba', () => blendRgba(img, n, [{ rgba }]));
const b = t('blendOne', () => blendOne(img, n, rgba));
console.log('same', a.every((v, i) => v === b[i]));
t('intensityRgba', () => intensityRgba(inten, { opacity: 0.35, alphaFromIntensity: true }));
