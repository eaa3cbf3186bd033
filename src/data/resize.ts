/**
 * Cropping and PIL-compatible resizing of 8-bit RGB images. Reduction runs through sharp's resize
 * (libvips reduce: an antialiased kernel scaled by the reduction factor, as PIL's resample does);
 * enlargement runs through sharp's affine with pixel-centre alignment and edge replication (as PIL's
 * resample does). Measured against PIL 9.4 in docs/data.md.
 */
import sharp, { type OutputInfo } from 'sharp';
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

/** Edge-replicating pad by `p` pixels on every side. */
function padEdges(img: RgbImage, p: number): RgbImage {
  const { width: w, height: h, data } = img;
  const W = w + 2 * p;
  const H = h + 2 * p;
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - p));
    const row = sy * w * 3;
    const dst = y * W * 3;
    out.set(data.subarray(row, row + w * 3), dst + p * 3);
    for (let x = 0; x < p; x++) {
      out[dst + x * 3] = data[row];
      out[dst + x * 3 + 1] = data[row + 1];
      out[dst + x * 3 + 2] = data[row + 2];
      const r = dst + (p + w + x) * 3;
      const last = row + (w - 1) * 3;
      out[r] = data[last];
      out[r + 1] = data[last + 1];
      out[r + 2] = data[last + 2];
    }
  }
  return { data: out, width: W, height: H };
}

const KERNEL = { bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' } as const;
const PAD = 2;

function asRgb(buf: Buffer, info: OutputInfo): RgbImage {
  if (info.channels !== 3) throw new Error(`resize: expected 3 channels from sharp, got ${info.channels}`);
  return { data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), width: info.width, height: info.height };
}

/**
 * Resize to width x height. Each axis that shrinks is reduced first (sharp resize, antialiased),
 * then each axis that grows is enlarged by interpolation at pixel centres: source coordinate
 * (X + 0.5) * in / out - 0.5 (nearest: floor((X + 0.5) * in / out)), edges replicated.
 */
export async function resizeRgb(img: RgbImage, width: number, height: number, interpolation: Interpolation): Promise<RgbImage> {
  let cur = img;
  if (cur.width === width && cur.height === height) return cur;
  const tw = Math.min(width, cur.width);
  const th = Math.min(height, cur.height);
  if (tw !== cur.width || th !== cur.height) {
    const r = await sharp(cur.data, { raw: { width: cur.width, height: cur.height, channels: 3 } })
      .resize(tw, th, { fit: 'fill', kernel: KERNEL[interpolation] })
      .raw()
      .toBuffer({ resolveWithObject: true });
    cur = asRgb(r.data, r.info);
  }
  if (cur.width === width && cur.height === height) return cur;
  const padded = padEdges(cur, PAD);
  const i0 = interpolation === 'nearest' ? -PAD : 0.5 - PAD;
  const r = await sharp(padded.data, { raw: { width: padded.width, height: padded.height, channels: 3 } })
    .affine(
      [
        [width / cur.width, 0],
        [0, height / cur.height],
      ],
      { interpolator: interpolation, idx: i0, idy: i0, odx: -0.5, ody: -0.5 },
    )
    .raw()
    .toBuffer({ resolveWithObject: true });
  const big = asRgb(r.data, r.info);
  if (big.width < width || big.height < height) {
    throw new Error(`resize: affine produced ${big.width}x${big.height}, expected at least ${width}x${height}`);
  }
  return cropRgb(big, { x1: 0, y1: 0, x2: width, y2: height });
}
