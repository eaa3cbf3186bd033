// Shared helpers for the data tests: temporary folders, raw image writing, and an independent
// implementation of PIL's resampling (Resample.c, in floating point) to check resizes against.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';

export async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'protolens-data-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An RGB raw image filled by f(x, y) -> [r, g, b]. */
export function rgbImage(width: number, height: number, f: (x: number, y: number) => [number, number, number]): Buffer {
  const b = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) b.set(f(x, y), (y * width + x) * 3);
  return b;
}

export function rawRgb(b: Buffer | Uint8Array, width: number, height: number): Sharp {
  return sharp(b, { raw: { width, height, channels: 3 } });
}

export function pixel(data: Uint8Array, width: number, x: number, y: number): [number, number, number] {
  const i = (y * width + x) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

/** A smooth but non-trivial test picture (sums of low-frequency waves plus a seeded texture). */
export function texture(width: number, height: number): Buffer {
  let s = 12345;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  return rgbImage(width, height, (x, y) => {
    const n = rnd() * 24;
    const r = 128 + 90 * Math.sin(x / 7) * Math.cos(y / 11) + n;
    const g = 128 + 80 * Math.sin((x + y) / 9) + n;
    const b = 128 + 100 * Math.cos(x / 13 - y / 5) + n;
    return [r, g, b].map((v) => Math.max(0, Math.min(255, Math.round(v)))) as [number, number, number];
  });
}

const filters = {
  bilinear: { support: 1, f: (x: number) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  bicubic: {
    support: 2,
    f: (x: number) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** One axis of PIL's resample: returns per output index the first input index and the weights. */
function coeffs(inSize: number, outSize: number, kind: keyof typeof filters): { xmin: number; k: number[] }[] {
  const { support: s0, f } = filters[kind];
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = s0 * fs;
  const out: { xmin: number; k: number[] }[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k: number[] = [];
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f((x + xmin - center + 0.5) / fs);
      k.push(w);
      ww += w;
    }
    out.push({ xmin, k: k.map((w) => (ww === 0 ? 0 : w / ww)) });
  }
  return out;
}

const clip8 = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

/** PIL Image.resize((W, H), BILINEAR|BICUBIC) on 8-bit RGB: horizontal pass, then vertical, 8-bit between. */
export function pilResize(src: Uint8Array, w: number, h: number, W: number, H: number, kind: keyof typeof filters): Uint8Array {
  let cur = src;
  let cw = w;
  if (W !== w) {
    const cx = coeffs(w, W, kind);
    const t = new Uint8Array(W * h * 3);
    for (let y = 0; y < h; y++)
      for (let X = 0; X < W; X++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          cx[X].k.forEach((k, j) => (s += k * cur[(y * w + cx[X].xmin + j) * 3 + c]));
          t[(y * W + X) * 3 + c] = clip8(s);
        }
    cur = t;
    cw = W;
  }
  if (H !== h) {
    const cy = coeffs(h, H, kind);
    const t = new Uint8Array(cw * H * 3);
    for (let Y = 0; Y < H; Y++)
      for (let x = 0; x < cw; x++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          cy[Y].k.forEach((k, j) => (s += k * cur[((cy[Y].xmin + j) * cw + x) * 3 + c]));
          t[(Y * cw + x) * 3 + c] = clip8(s);
        }
    cur = t;
  }
  return cur;
}

/** PIL's NEAREST resize: source index floor((X + 0.5) * in / out). */
export function pilNearest(src: Uint8Array, w: number, h: number, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H * 3);
  for (let Y = 0; Y < H; Y++)
    for (let X = 0; X < W; X++) {
      const sx = Math.min(w - 1, Math.floor(((X + 0.5) * w) / W));
      const sy = Math.min(h - 1, Math.floor(((Y + 0.5) * h) / H));
      for (let c = 0; c < 3; c++) out[(Y * W + X) * 3 + c] = src[(sy * w + sx) * 3 + c];
    }
  return out;
}

export function diffStats(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.length };
}
