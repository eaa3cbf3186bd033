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
 * The coefficient tables depend only on (in, out, filter) and are cached.
 */
import type { RgbImage } from './decode.ts';
import type { Interpolation } from './preprocess-config.ts';
import type { CropBox } from './types.ts';

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
const HALF = 1 << (PRECISION_BITS - 1);

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

/** clip8: the sum shifted back to 8 bits and clamped. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over rows [y0, y0 + rows) of an RGB image `inW` wide. */
function horizontal(src: Uint8Array, inW: number, y0: number, rows: number, outW: number, c: Coefficients): Uint8Array {
  const out = new Uint8Array(outW * rows * 3);
  const { ksize, start, count, k } = c;
  for (let y = 0; y < rows; y++) {
    const row = (y + y0) * inW * 3;
    const o = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      const kb = xx * ksize;
      let p = row + start[xx] * 3;
      for (let t = 0, n = count[xx]; t < n; t++, p += 3) {
        // int32 arithmetic (Pillow's INT32 sums never overflow: 255 x 2^22 x the weights' spread)
        const w = k[kb + t];
        s0 = (s0 + Math.imul(src[p], w)) | 0;
        s1 = (s1 + Math.imul(src[p + 1], w)) | 0;
        s2 = (s2 + Math.imul(src[p + 2], w)) | 0;
      }
      out[o + xx * 3] = clip8(s0);
      out[o + xx * 3 + 1] = clip8(s1);
      out[o + xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

/**
 * Vertical pass: rows of `src` (w wide, indexed from `rowOffset`) into `outH` rows. Whole rows are
 * accumulated tap by tap (sequential memory), the same int32 sums in the same order per value.
 */
function vertical(src: Uint8Array, w: number, outH: number, c: Coefficients, rowOffset: number): Uint8Array {
  const stride = w * 3;
  const out = new Uint8Array(stride * outH);
  const acc = new Int32Array(stride);
  const { ksize, start, count, k } = c;
  for (let yy = 0; yy < outH; yy++) {
    const kb = yy * ksize;
    const n = count[yy];
    let p = (start[yy] - rowOffset) * stride;
    const w0 = n > 0 ? k[kb] : 0;
    for (let i = 0; i < stride; i++) acc[i] = (HALF + Math.imul(src[p + i], w0)) | 0;
    for (let t = 1; t < n; t++) {
      p += stride;
      const wt = k[kb + t];
      for (let i = 0; i < stride; i++) acc[i] = (acc[i] + Math.imul(src[p + i], wt)) | 0;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) {
      const v = acc[i] >> PRECISION_BITS;
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
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
 * Large images are resized on a worker thread (resize-pool.ts), so the work overlaps with inference
 * on the main thread; the bytes are the same either way.
 */
export async function resizeRgb(img: RgbImage, width: number, height: number, interpolation: Interpolation): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  if (interpolation !== 'nearest' && img.width * img.height + width * height >= POOL_MIN_PIXELS) {
    const { resizeOnPool } = await import('./resize-pool.ts');
    const r = await resizeOnPool(img, width, height, interpolation);
    if (r) return r;
  }
  return resizeRgbSync(img, width, height, interpolation);
}

/** Below this many pixels (input + output) a resize is done in place: a worker round trip would cost more. */
const POOL_MIN_PIXELS = 60_000;

/** `resizeRgb` on the calling thread. */
export function resizeRgbSync(img: RgbImage, width: number, height: number, interpolation: Interpolation): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`resize: width and height must be positive integers, got ${width} x ${height}`);
  if (img.width === width && img.height === height) return img;
  if (interpolation === 'nearest') return nearest(img, width, height);
  const { width: W, height: H } = img;
  const needH = width !== W;
  const needV = height !== H;
  const cv = coefficients(H, height, interpolation);
  let data = img.data;
  let rowOffset = 0;
  if (needH) {
    // Only the rows the vertical pass reads (all of them when there is none).
    const first = needV ? cv.start[0] : 0;
    const last = needV ? cv.start[height - 1] + cv.count[height - 1] : H;
    data = horizontal(img.data, W, first, last - first, width, coefficients(W, width, interpolation));
    rowOffset = first;
  }
  if (!needV) return { data, width, height };
  return { data: vertical(data, width, height, cv, rowOffset), width, height };
}
