/**
 * The one sharp pipeline of the pictures: lays RGBA layers and SVG (layers.ts) over an RGB image and
 * encodes PNG.
 */
import sharp, { type Sharp } from 'sharp';
import type { Layer } from './layers.ts';

/**
 * Resize the RGB image (w x h) to outW x outH if needed (sharp, bicubic), lay `layers` over it in
 * order (alpha "over" in sRGB), and return 8-bit RGB pixels.
 */
export async function composeRgb(imageRgb: Uint8Array, w: number, h: number, outW: number, outH: number, layers: readonly Layer[]): Promise<Uint8Array> {
  if (outW === w && outH === h && layers.every((l) => 'rgba' in l)) return blendRgba(imageRgb, w * h, layers as readonly { rgba: Uint8Array }[]);
  let img = sharp(asBuffer(imageRgb), { raw: { width: w, height: h, channels: 3 } });
  if (outW !== w || outH !== h) img = img.resize(outW, outH, { fit: 'fill', kernel: 'cubic' });
  if (layers.length > 0) {
    img = img.composite(
      layers.map((l) =>
        'rgba' in l ? { input: asBuffer(l.rgba), raw: { width: outW, height: outH, channels: 4 as const } } : { input: Buffer.from(l.svg) },
      ),
    );
  }
  const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== outW || info.height !== outH || info.channels !== 3) {
    throw new Error(`composeRgb: sharp returned ${info.width} x ${info.height} x ${info.channels}, expected ${outW} x ${outH} x 3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * RGBA layers over an RGB image of n pixels, "over" in sRGB as libvips composites them (float, one
 * rounding at the end): the pure-JavaScript path of `composeRgb` when nothing is resized and no SVG
 * is drawn, which spares a sharp pipeline per picture.
 */
export function blendRgba(imageRgb: Uint8Array, n: number, layers: readonly { rgba: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    let r = imageRgb[p * 3];
    let g = imageRgb[p * 3 + 1];
    let b = imageRgb[p * 3 + 2];
    for (const { rgba } of layers) {
      const a = rgba[p * 4 + 3] / 255;
      if (a === 0) continue;
      r = rgba[p * 4] * a + r * (1 - a);
      g = rgba[p * 4 + 1] * a + g * (1 - a);
      b = rgba[p * 4 + 2] * a + b * (1 - a);
    }
    out[p * 3] = Math.round(r);
    out[p * 3 + 1] = Math.round(g);
    out[p * 3 + 2] = Math.round(b);
  }
  return out;
}

/** Encode 8-bit RGB pixels (w x h x 3) as PNG. */
export function encodePng(rgb: Uint8Array, w: number, h: number): Promise<Buffer> {
  return encodePicture(rgb, w, h, { format: 'png' });
}

/**
 * How a picture is stored: lossless PNG, or lossy WebP (quality 1-100, effort 0-6: more effort, smaller
 * files, more time) or JPEG (quality 1-100; 4:4:4, so thin coloured lines stay sharp).
 */
export type PictureEncoding = { format: 'png' } | { format: 'webp'; quality: number; effort?: number } | { format: 'jpeg'; quality: number };

/** libwebp's effort (0-6, its `method`) when an encoding does not give one: sharp's default. */
export const DEFAULT_WEBP_EFFORT = 4;

/** File extension of an encoding ('.png', '.webp', '.jpg'). */
export const pictureExtension = (e: PictureEncoding): string => (e.format === 'jpeg' ? '.jpg' : `.${e.format}`);

/** The output stage of a sharp pipeline for `e`. */
export function encodeAs(img: Sharp, e: PictureEncoding): Sharp {
  if (e.format === 'webp') return img.webp({ quality: e.quality, effort: e.effort ?? DEFAULT_WEBP_EFFORT });
  if (e.format === 'jpeg') return img.jpeg({ quality: e.quality, chromaSubsampling: '4:4:4' });
  return img.png({ compressionLevel: 6 });
}

/** Encode 8-bit RGB pixels (w x h x 3) as the encoding says. */
export function encodePicture(rgb: Uint8Array, w: number, h: number, e: PictureEncoding): Promise<Buffer> {
  const img = sharp(asBuffer(rgb), { raw: { width: w, height: h, channels: 3 } });
  return encodeAs(img, e).toBuffer();
}

/** View a Uint8Array as a Buffer without copying. */
export function asBuffer(a: Uint8Array): Buffer {
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
