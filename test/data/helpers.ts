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
