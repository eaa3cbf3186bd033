/**
 * Per-prototype pictures: the heatmap over the image with its high-activation box (`overlay`), an
 * exemplar's patch cut from its training image (`crop`), and that training image with the patch's
 * box and a faint heatmap for context (`boxOnImage`). All return PNG.
 */
import sharp from 'sharp';
import { InputError } from '../util/errors.ts';
import { HEATMAP_DEFAULTS, type HeatmapOptions, intensityRgba, normaliseMap, upsampleMap } from './heatmap.ts';
import { asBuffer, boxOutlineSvg, checkRange, checkRgbImage, composeRgb, encodePng, type Layer, scaleBox, scaledSize, svgDocument } from './image.ts';
import { parseHexColour } from './palette.ts';
import { type Box, checkBox, percentileBox } from './percentile.ts';

/** Box outline defaults shared by `overlay` and `boxOnImage`. */
export const BOX_DEFAULTS = {
  /** Outline colour: a saturated red, distinct from every viridis colour. */
  colour: '#FF0000',
  /** Outline width in output pixels, drawn inside the box. */
  lineWidth: 2,
} as const;

/** Options of `overlay`. */
export interface OverlayOptions extends HeatmapOptions {
  /** Percentile (0..100) of the upsampled map whose pixels at or above it make the box; default 95. */
  percentile?: number;
  /**
   * The box to draw, in image pixels: default (undefined) the `percentile` box of this map, upsampled
   * to the image; a Box to draw that one instead; null to draw none.
   */
  box?: Box | null;
  /** Box outline colour, `#rrggbb`; default '#FF0000'. */
  boxColour?: string;
  /** Box outline width in output pixels; default 2. */
  boxWidth?: number;
  /** Output size as a multiple of the image size (the heatmap is upsampled to it directly); default 1. */
  scale?: number;
}

/**
 * The box of a prototype's map on the image: the map (mh x mw) upsampled bicubically to the image
 * (w x h), then the box of the pixels at or above its `pct`-th percentile.
 */
export function prototypeBox(map: Float32Array, mh: number, mw: number, w: number, h: number, pct = 95): Box {
  return percentileBox(upsampleMap(map, mh, mw, w, h), w, h, pct);
}

/**
 * The prototype's heatmap (`map`, mh x mw at feature resolution) blended over the image
 * (`imageRgb`, w x h x 3, 8-bit RGB at the model's input geometry), with the high-activation box drawn
 * as an outline. Returns a PNG of size round(w x scale) x round(h x scale).
 * @throws InputError on sizes that do not match or bad options.
 */
export async function overlay(imageRgb: Uint8Array, w: number, h: number, map: Float32Array, mh: number, mw: number, opts: OverlayOptions = {}): Promise<Buffer> {
  checkRgbImage(imageRgb, w, h, 'overlay');
  const out = scaledSize(w, h, opts.scale ?? 1, 'overlay');
  const pct = opts.percentile ?? 95;
  checkRange(pct, 0, 100, 'overlay percentile');
  const atImage = upsampleMap(map, mh, mw, w, h);
  const atOutput = out.width === w && out.height === h ? atImage : upsampleMap(map, mh, mw, out.width, out.height);
  const layers: Layer[] = [{ rgba: intensityRgba(normaliseMap(atOutput, opts.normalisation ?? HEATMAP_DEFAULTS.normalisation), opts) }];
  let box: Box | null;
  if (opts.box === undefined) box = percentileBox(atImage, w, h, pct);
  else if (opts.box === null) box = null;
  else {
    checkBox(opts.box, w, h, 'overlay box');
    box = opts.box;
  }
  if (box) {
    const colour = parseHexColour(opts.boxColour ?? BOX_DEFAULTS.colour, 'overlay boxColour');
    const outline = boxOutlineSvg(scaleBox(box, w, h, out.width, out.height), colour, opts.boxWidth ?? BOX_DEFAULTS.lineWidth);
    layers.push({ svg: svgDocument(out.width, out.height, outline) });
  }
  const rgb = await composeRgb(imageRgb, w, h, out.width, out.height, layers);
  return encodePng(rgb, out.width, out.height);
}

/** Resampling kernel for enlarged crops. */
export type CropKernel = 'nearest' | 'cubic' | 'lanczos3';

/**
 * The patch `box` of the image (w x h x 3, 8-bit RGB) as PNG, e.g. an exemplar patch from a training
 * image. `scale` (default 1) resizes the patch by that factor (sharp, `kernel`, default 'cubic').
 * @throws InputError when the box is not inside the image.
 */
export async function crop(imageRgb: Uint8Array, w: number, h: number, box: Box, scale = 1, kernel: CropKernel = 'cubic'): Promise<Buffer> {
  checkRgbImage(imageRgb, w, h, 'crop');
  checkBox(box, w, h, 'crop box');
  const out = scaledSize(box.width, box.height, scale, 'crop');
  if (!['nearest', 'cubic', 'lanczos3'].includes(kernel)) throw new InputError(`crop kernel: expected 'nearest', 'cubic' or 'lanczos3', got '${kernel}'`);
  let img = sharp(asBuffer(imageRgb), { raw: { width: w, height: h, channels: 3 } }).extract({ left: box.x, top: box.y, width: box.width, height: box.height });
  if (out.width !== box.width || out.height !== box.height) img = img.resize(out.width, out.height, { fit: 'fill', kernel });
  return img.png({ compressionLevel: 6 }).toBuffer();
}

/** Options of `boxOnImage`. */
export interface BoxOnImageOptions {
  /** A map to show faintly under the box (mh x mw at feature resolution, drawn with per-map scale). */
  heatmap?: { map: Float32Array; height: number; width: number };
  /** Heatmap alpha at intensity 1; default 0.35 (faint: the image stays readable). */
  heatmapOpacity?: number;
  /** Box outline colour; default '#FF0000'. */
  boxColour?: string;
  /** Box outline width in output pixels; default 2. */
  boxWidth?: number;
  /** Output size as a multiple of the image size; default 1. */
  scale?: number;
}

/**
 * The whole image (w x h x 3, 8-bit RGB) with `box` outlined and, if given, a faint heatmap: the
 * context picture of an exemplar patch (where in its training image the patch came from).
 * @throws InputError when the box is not inside the image or sizes do not match.
 */
export async function boxOnImage(imageRgb: Uint8Array, w: number, h: number, box: Box, opts: BoxOnImageOptions = {}): Promise<Buffer> {
  checkRgbImage(imageRgb, w, h, 'boxOnImage');
  checkBox(box, w, h, 'boxOnImage box');
  const out = scaledSize(w, h, opts.scale ?? 1, 'boxOnImage');
  const layers: Layer[] = [];
  if (opts.heatmap) {
    const { map, height, width } = opts.heatmap;
    const up = upsampleMap(map, height, width, out.width, out.height);
    layers.push({ rgba: intensityRgba(normaliseMap(up, 'per-map'), { opacity: opts.heatmapOpacity ?? 0.35, alphaFromIntensity: true }) });
  }
  const colour = parseHexColour(opts.boxColour ?? BOX_DEFAULTS.colour, 'boxOnImage boxColour');
  layers.push({ svg: svgDocument(out.width, out.height, boxOutlineSvg(scaleBox(box, w, h, out.width, out.height), colour, opts.boxWidth ?? BOX_DEFAULTS.lineWidth)) });
  const rgb = await composeRgb(imageRgb, w, h, out.width, out.height, layers);
  return encodePng(rgb, out.width, out.height);
}
