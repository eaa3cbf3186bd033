/**
 * Cropping and Pillow-exact resizing of 8-bit RGB images: `resizeRgb` gives the bytes Pillow 9.4+
 * gives for `Image.resize((w, h), BILINEAR | BICUBIC | NEAREST)` of an RGB image (torchvision's
 * `Resize` on PIL images calls exactly that), so a model's input tensors, and its logits, match a
 * torchvision + PIL pipeline to the last bit. Verified against real Pillow on committed fixtures
 * (test/data/fixtures/pillow-resize.*, docs/data.md).
 *
 * Pillow's algorithm (libImaging/Resample.c): a separable convolution, horizontal pass first (only
 * on the rows the vertical pass reads) into an 8-bit intermediate, then vertical. Per output pixel,
 * the filter (bilinear: triangle of support 1; bicubic: Keys a = -0.5, support 2) is stretched by the
 * reduction factor when shrinking (antialiasing), centred at (x + 0.5) * in / out, its taps from
 * trunc(center -+ support + 0.5) clamped to the image, weights normalised to sum 1 in float64, then
 * rounded to 22-bit fixed point (trunc(w * 2^22 +- 0.5)); sums start at 2^21 and are shifted right
 * by 22 and clamped to 0..255. NEAREST is Pillow's affine scale: source x = trunc(x0 + 0.5 * s + x * s)
 * accumulated in float64 by repeated addition, as ImagingScaleAffine does.
 *
 * The coefficient tables depend only on (in, out, filter) and are cached; the two passes run as
 * WebAssembly with SIMD (src/data/wasm/resample.c, integer arithmetic: vectorised sums are exact).
 */
import type { RgbImage } from './decode.ts';
import type { Interpolation } from './preprocess-config.ts';
import type { CropBox } from './types.ts';
import { RESAMPLE_WASM_BASE64 } from './wasm/resample-wasm.ts';
import { Arena, instantiateBase64, type WasmMemoryExports } from '../util/wasm.ts';

/**
 * Copy pixels [x1, x2) x [y1, y2) of `img`; pixels outside the image are black (PIL's crop).
 * Returns `img` itself when the box is the whole image.
 */
export function cropRgb(img: RgbImage, c: CropBox): RgbImage {
  const { width: W, height: H } = img;
  if (c.x1 === 0 && c.y1 === 0 && c.x2 === W && c.y2 === H) return img;
  const w = c.x2 - c.x1;
  const h = c.y2 - c.y1;
  const out = new Uint8Array(w * h * 3);
  const sx1 = Math.max(0, c.x1);
  const sx2 = Math.min(W, c.x2);
  if (sx2 > sx1) {
    for (let y = Math.max(0, c.y1); y < Math.min(H, c.y2); y++) {
      const src = (y * W + sx1) * 3;
      out.set(img.data.subarray(src, src + (sx2 - sx1) * 3), ((y - c.y1) * w + (sx1 - c.x1)) * 3);
    }
  }
  return { data: out, width: w, height: h };
}

const PRECISION_BITS = 22;

function bilinearFilter(x: number): number {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

const FILTERS = {
  bilinear: { fn: bilinearFilter, support: 1.0 },
  bicubic: { fn: bicubicFilter, support: 2.0 },
} as const;

/** Fixed-point coefficients of one axis: for output i, taps [start[i], start[i] + count[i]) with weights k[i * ksize + t]. */
interface Coefficients {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  k: Int32Array;
}

const cache = new Map<string, Coefficients>();

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for a full-axis box. */
function coefficients(inSize: number, outSize: number, filter: keyof typeof FILTERS): Coefficients {
  const key = `${filter}:${inSize}:${outSize}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { fn, support: base } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const v = fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0.0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  const c = { ksize, start, count, k };
  if (cache.size > 256) cache.clear();
  cache.set(key, c);
  return c;
}

interface ResampleExports extends WasmMemoryExports {
  horizontal(src: number, inW: number, y0: number, rows: number, outW: number, start: number, count: number, k: number, ksize: number, out: number): void;
  vertical(src: number, w: number, outH: number, start: number, count: number, k: number, ksize: number, rowOffset: number, out: number, acc: number): void;
}

let wasm: ResampleExports | null = null;

/** The passes compiled to WebAssembly (src/data/wasm/resample.c), instantiated once per thread. */
function resampler(): ResampleExports {
  if (!wasm) wasm = instantiateBase64<ResampleExports>(RESAMPLE_WASM_BASE64);
  return wasm;
}

/** The three coefficient tables of a pass, copied into the module's memory. */
function putCoefficients(arena: Arena, c: Coefficients): { start: number; count: number; k: number } {
  return { start: arena.put(c.start), count: arena.put(c.count), k: arena.put(c.k) };
}

/** Pillow's NEAREST resize (ImagingScaleAffine): positions accumulated in float64 from x0 + 0.5 s. */
function nearest(img: RgbImage, width: number, height: number): RgbImage {
  const { width: W, height: H, data } = img;
  const sx = W / width;
  const sy = H / height;
  const xin = new Int32Array(width);
  let xo = sx * 0.5;
  for (let x = 0; x < width; x++) {
    xin[x] = xo < 0.0 ? -1 : Math.trunc(xo);
    xo += sx;
  }
  const out = new Uint8Array(width * height * 3);
  let yo = sy * 0.5;
  for (let y = 0; y < height; y++) {
    const yi = yo < 0.0 ? -1 : Math.trunc(yo);
    yo += sy;
    if (yi < 0 || yi >= H) continue; // Pillow leaves such rows black (fill)
    const row = yi * W * 3;
    const o = y * width * 3;
    for (let x = 0; x < width; x++) {
      const xi = xin[x];
      if (xi < 0 || xi >= W) continue;
      const p = row + xi * 3;
      out[o + x * 3] = data[p];
      out[o + x * 3 + 1] = data[p + 1];
      out[o + x * 3 + 2] = data[p + 2];
    }
  }
  return { data: out, width, height };
}

/**
 * Resize to width x height exactly as Pillow's `Image.resize((width, height), resample)` does for an
 * RGB image (no reducing_gap, the box the whole image). Returns `img` when the size is unchanged.
 */
export async function resizeRgb(img: RgbImage, width: number, height: number, interpolation: Interpolation): Promise<RgbImage> {
  return resizeRgbSync(img, width, height, interpolation);
}

/** `resizeRgb`, synchronously. */
export function resizeRgbSync(img: RgbImage, width: number, height: number, interpolation: Interpolation): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`resize: width and height must be positive integers, got ${width} x ${height}`);
  if (img.width === width && img.height === height) return img;
  if (interpolation === 'nearest') return nearest(img, width, height);
  const { width: W, height: H } = img;
  const needH = width !== W;
  const needV = height !== H;
  const cv = coefficients(H, height, interpolation);
  const m = resampler();
  const arena = new Arena(m);
  let src = arena.put(img.data);
  let rowOffset = 0;
  let w = W;
  if (needH) {
    // Only the rows the vertical pass reads (all of them when there is none).
    const first = needV ? cv.start[0] : 0;
    const last = needV ? cv.start[height - 1] + cv.count[height - 1] : H;
    const ch = coefficients(W, width, interpolation);
    const kh = putCoefficients(arena, ch);
    const tmp = arena.alloc(width * (last - first) * 3);
    m.horizontal(src, W, first, last - first, width, kh.start, kh.count, kh.k, ch.ksize, tmp);
    src = tmp;
    rowOffset = first;
    w = width;
    if (!needV) return { data: new Uint8Array(m.memory.buffer, tmp, width * height * 3).slice(), width, height };
  }
  const kv = putCoefficients(arena, cv);
  const acc = arena.alloc(w * 3 * 4);
  const out = arena.alloc(w * height * 3);
  m.vertical(src, w, height, kv.start, kv.count, kv.k, cv.ksize, rowOffset, out, acc);
  return { data: new Uint8Array(m.memory.buffer, out, w * height * 3).slice(), width, height };
}
