/**
 * Per-prototype pictures: the heatmap over the image with its high-activation box (`overlay`), an
 * exemplar's patch cut from its training image (`crop`), and that training image with the patch's
 * box and a faint heatmap for context (`boxOnImage`). All return PNG.
 */
import sharp from 'sharp';
import { InputError } from '../util/errors.ts';
import { heatmapOverImage, intensityRgba, normaliseMap, upsampleMap } from './heatmap.ts';
import { asBuffer, composeRgb, encodeAs, encodePicture, encodePng, type PictureEncoding } from './image.ts';
import { checkRgbImage, paintBoxOutline, scaleBox, scaledSize } from './layers.ts';
import { BOX_DEFAULTS, overlayLayers, type OverlayOptions } from './overlay-layers.ts';
import { parseHexColour } from './palette.ts';
import { type Box, checkBox } from './percentile.ts';


/**
 * The prototype's heatmap (`map`, mh x mw at feature resolution) blended over the image
 * (`imageRgb`, w x h x 3, 8-bit RGB at the model's input geometry), with the high-activation box drawn
 * as an outline (overlay-layers.ts). Returns a PNG of size round(w x scale) x round(h x scale).
 * @throws InputError on sizes that do not match or bad options.
 */
export async function overlay(imageRgb: Uint8Array, w: number, h: number, map: Float32Array, mh: number, mw: number, opts: OverlayOptions = {}): Promise<Buffer> {
  const p = overlayLayers(imageRgb, w, h, map, mh, mw, opts);
  const rgb = await composeRgb(imageRgb, w, h, p.width, p.height, p.layers);
  return encodePng(rgb, p.width, p.height);
}

/** Resampling kernel for enlarged crops. */
export type CropKernel = 'nearest' | 'cubic' | 'lanczos3';

/**
 * The patch `box` of the image (w x h x 3, 8-bit RGB) as PNG (or as `encoding` says), e.g. an
 * exemplar patch from a training image. `scale` (default 1) resizes the patch by that factor (sharp,
 * `kernel`, default 'cubic').
 * @throws InputError when the box is not inside the image.
 */
export async function crop(imageRgb: Uint8Array, w: number, h: number, box: Box, scale = 1, kernel: CropKernel = 'cubic', encoding: PictureEncoding = { format: 'png' }): Promise<Buffer> {
  checkRgbImage(imageRgb, w, h, 'crop');
  checkBox(box, w, h, 'crop box');
  const out = scaledSize(box.width, box.height, scale, 'crop');
  if (!['nearest', 'cubic', 'lanczos3'].includes(kernel)) throw new InputError(`crop kernel: expected 'nearest', 'cubic' or 'lanczos3', got '${kernel}'`);
  let img = sharp(asBuffer(imageRgb), { raw: { width: w, height: h, channels: 3 } }).extract({ left: box.x, top: box.y, width: box.width, height: box.height });
  if (out.width !== box.width || out.height !== box.height) img = img.resize(out.width, out.height, { fit: 'fill', kernel });
  return encodeAs(img, encoding).toBuffer();
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
  /** PNG (default) or WebP. */
  encoding?: PictureEncoding;
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
  const colour = parseHexColour(opts.boxColour ?? BOX_DEFAULTS.colour, 'boxOnImage boxColour');
  const lineWidth = opts.boxWidth ?? BOX_DEFAULTS.lineWidth;
  const heat = { normalisation: 'per-map', opacity: opts.heatmapOpacity ?? 0.35, alphaFromIntensity: true } as const;
  if (out.width === w && out.height === h) {
    // At the image's size (exemplar contexts): the heatmap laid over in one engine call, the opaque
    // box painted on top (the bytes of blending a layer that holds both).
    const rgb = opts.heatmap ? heatmapOverImage(imageRgb, w, h, opts.heatmap.map, opts.heatmap.height, opts.heatmap.width, heat) : imageRgb.slice();
    paintBoxOutline(rgb, w, h, box, colour, lineWidth, 3);
    return encodePicture(rgb, w, h, opts.encoding ?? { format: 'png' });
  }
  // Resized: the layer is drawn at the output size and sharp resizes the image under it.
  const rgba = opts.heatmap ? intensityRgba(normaliseMap(upsampleMap(opts.heatmap.map, opts.heatmap.height, opts.heatmap.width, out.width, out.height), 'per-map'), heat) : new Uint8Array(out.width * out.height * 4);
  paintBoxOutline(rgba, out.width, out.height, scaleBox(box, w, h, out.width, out.height), colour, lineWidth);
  const rgb = await composeRgb(imageRgb, w, h, out.width, out.height, [{ rgba }]);
  return encodePicture(rgb, out.width, out.height, opts.encoding ?? { format: 'png' });
}
