/**
 * The pure pieces of the pictures, shared by the sharp pipeline (image.ts) and the browser's canvas
 * (src/site/browser/): input checks, output sizes, box outlines and legends as SVG, text escaping for
 * SVG, and the layer type laid over a picture. No Node or sharp import: the browser bundle takes it.
 */
import { InputError } from '../util/errors.ts';
import type { Box } from './percentile.ts';
import { toHex, type Rgb } from './palette.ts';

/** Font stack for text drawn into PNGs through librsvg (DejaVu Sans ships with most Linux systems). */
export const SVG_FONT = "'DejaVu Sans', Verdana, Arial, sans-serif";

/**
 * Check an 8-bit RGB image buffer (height x width x 3, row-major interleaved); `fn` names the caller.
 * @throws InputError on a non-integer size or a buffer of the wrong length.
 */
export function checkRgbImage(imageRgb: Uint8Array, w: number, h: number, fn: string): void {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InputError(`${fn}: image width and height must be positive integers, got ${w} x ${h}`);
  if (!(imageRgb instanceof Uint8Array)) throw new InputError(`${fn}: image must be a Uint8Array or Buffer of 8-bit RGB pixels`);
  if (imageRgb.length !== w * h * 3) {
    throw new InputError(`${fn}: image buffer has ${imageRgb.length} bytes, expected width x height x 3 = ${w} x ${h} x 3 = ${w * h * 3} (8-bit RGB, no alpha)`);
  }
}

/**
 * Check a feature-resolution map (mh x mw float32, row-major, finite values); `what` names it.
 * @throws InputError otherwise.
 */
export function checkMap(map: Float32Array, mh: number, mw: number, what: string): void {
  if (!Number.isInteger(mh) || !Number.isInteger(mw) || mh < 1 || mw < 1) throw new InputError(`${what}: map height and width must be positive integers, got ${mh} x ${mw}`);
  if (!(map instanceof Float32Array)) throw new InputError(`${what}: map must be a Float32Array`);
  if (map.length !== mh * mw) throw new InputError(`${what}: map has ${map.length} values, expected height x width = ${mh} x ${mw} = ${mh * mw}`);
  for (let i = 0; i < map.length; i++) {
    if (!Number.isFinite(map[i])) throw new InputError(`${what}: value at row ${Math.floor(i / mw)}, column ${i % mw} is ${map[i]}, expected a finite number`);
  }
}

/** Check a number option lies in [lo, hi]; `what` names it. */
export function checkRange(v: number, lo: number, hi: number, what: string): void {
  if (!(typeof v === 'number' && v >= lo && v <= hi)) throw new InputError(`${what}: expected a number in [${lo}, ${hi}], got ${v}`);
}

/** Output size of a w x h picture drawn at `scale` (each side rounded, at least 1 pixel). */
export function scaledSize(w: number, h: number, scale: number, fn: string): { width: number; height: number } {
  if (!(typeof scale === 'number' && scale > 0 && Number.isFinite(scale))) throw new InputError(`${fn}: scale must be a positive number, got ${scale}`);
  const width = Math.max(1, Math.round(w * scale));
  const height = Math.max(1, Math.round(h * scale));
  if (width * height > 64e6) throw new InputError(`${fn}: scale ${scale} gives ${width} x ${height} pixels, more than the 64-megapixel limit`);
  return { width, height };
}

/** `box` (image pixels of a w x h image) in the pixels of the same picture drawn at outW x outH. */
export function scaleBox(box: Box, w: number, h: number, outW: number, outH: number): Box {
  const x1 = Math.round((box.x * outW) / w);
  const y1 = Math.round((box.y * outH) / h);
  const x2 = Math.max(x1 + 1, Math.round(((box.x + box.width) * outW) / w));
  const y2 = Math.max(y1 + 1, Math.round(((box.y + box.height) * outH) / h));
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}

/**
 * The outline of `box` as four bands `lineWidth` pixels wide, just inside the box (so the outline
 * covers exactly the box's border pixels and never leaves it). A box no wider or taller than two line
 * widths is one filled rectangle.
 */
export function boxOutlineRects(box: Box, lineWidth: number): Box[] {
  const { x, y, width: bw, height: bh } = box;
  if (!(lineWidth >= 1 && lineWidth <= 1000)) throw new InputError(`box line width: expected a number of pixels in [1, 1000], got ${lineWidth}`);
  const lw = Math.round(lineWidth);
  if (bw <= 2 * lw || bh <= 2 * lw) return [{ x, y, width: bw, height: bh }];
  return [
    { x, y, width: bw, height: lw },
    { x, y: y + bh - lw, width: bw, height: lw },
    { x, y: y + lw, width: lw, height: bh - 2 * lw },
    { x: x + bw - lw, y: y + lw, width: lw, height: bh - 2 * lw },
  ];
}

/** The box outline (`boxOutlineRects`) as SVG rectangles. */
export function boxOutlineSvg(box: Box, colour: Rgb, lineWidth: number): string {
  const fill = `fill="${toHex(colour)}"`;
  return boxOutlineRects(box, lineWidth).map((r) => `<rect x="${r.x}" y="${r.y}" width="${r.width}" height="${r.height}" ${fill}/>`).join('');
}

/**
 * Paint the box outline (`boxOutlineRects`) opaque into an RGBA layer of width x height (clipped to
 * it): the same pixels the crisp-edged SVG outline covers, without an SVG renderer. With `channels`
 * 3 it paints an RGB picture directly: the same bytes as painting the layer and blending it, since
 * an opaque pixel replaces what is under it.
 */
export function paintBoxOutline(rgba: Uint8Array, width: number, height: number, box: Box, colour: Rgb, lineWidth: number, channels: 3 | 4 = 4): void {
  for (const r of boxOutlineRects(box, lineWidth)) {
    for (let y = Math.max(0, r.y); y < Math.min(height, r.y + r.height); y++) {
      for (let x = Math.max(0, r.x); x < Math.min(width, r.x + r.width); x++) {
        const o = (y * width + x) * channels;
        rgba[o] = colour[0];
        rgba[o + 1] = colour[1];
        rgba[o + 2] = colour[2];
        if (channels === 4) rgba[o + 3] = 255;
      }
    }
  }
}

/** A full SVG document of the given size around `body`, pixel-exact (crisp edges, no scaling). */
export function svgDocument(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" shape-rendering="crispEdges">${body}</svg>`;
}

/** Escape text for SVG/XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** One layer laid over the base picture: raw RGBA pixels of the output size, or an SVG document. */
export type Layer = { rgba: Uint8Array } | { svg: string };

/** Size of readable pictures: 'auto' scales small inputs up to at least this many pixels on the longer side. */
export const AUTO_SCALE_TARGET = 224;

/** The picture scale for a w x h input. */
export function pictureScale(w: number, h: number, scale: number | 'auto' = 'auto'): number {
  if (scale === 'auto') return Math.max(1, Math.ceil(AUTO_SCALE_TARGET / Math.max(w, h)));
  if (!(scale > 0 && scale <= 64)) throw new InputError(`picture scale: expected a number in (0, 64] or 'auto', got ${scale}`);
  return scale;
}
