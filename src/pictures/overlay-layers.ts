/**
 * What a prototype's overlay draws, without drawing it: the heatmap as an RGBA layer and the
 * high-activation box as SVG, over the image at the output size. overlay.ts composes them with sharp,
 * the browser (src/site/browser/) on a canvas.
 */
import { HEATMAP_DEFAULTS, type HeatmapOptions, intensityRgba, normaliseMap, upsampleMap } from './heatmap.ts';
import { checkRange, checkRgbImage, type Layer, paintBoxOutline, scaleBox, scaledSize } from './layers.ts';
import { parseHexColour } from './palette.ts';
import { strongestRegion } from './strongest-region.ts';
import { type Box, checkBox, percentileBox } from './percentile.ts';

/** Layers over an image drawn at width x height. */
export interface PictureLayers {
  width: number;
  height: number;
  layers: Layer[];
}

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
  return strongestRegion(map, mh, mw, w, h, pct);
}

/**
 * The prototype's heatmap (`map`, mh x mw at feature resolution) blended over the image
 * (`imageRgb`, w x h x 3, 8-bit RGB at the model's input geometry), with the high-activation box drawn
 * as an outline: the layers to lay over the image drawn at round(w x scale) x round(h x scale).
 * @throws InputError on sizes that do not match or bad options.
 */
export function overlayLayers(imageRgb: Uint8Array, w: number, h: number, map: Float32Array, mh: number, mw: number, opts: OverlayOptions = {}): PictureLayers {
  checkRgbImage(imageRgb, w, h, 'overlay');
  const out = scaledSize(w, h, opts.scale ?? 1, 'overlay');
  const pct = opts.percentile ?? 95;
  checkRange(pct, 0, 100, 'overlay percentile');
  const sameSize = out.width === w && out.height === h;
  const atOutput = upsampleMap(map, mh, mw, out.width, out.height);
  const rgba = intensityRgba(normaliseMap(atOutput, opts.normalisation ?? HEATMAP_DEFAULTS.normalisation), opts);
  let box: Box | null;
  if (opts.box === undefined) box = sameSize ? percentileBox(atOutput, w, h, pct) : strongestRegion(map, mh, mw, w, h, pct);
  else if (opts.box === null) box = null;
  else {
    checkBox(opts.box, w, h, 'overlay box');
    box = opts.box;
  }
  // The outline is painted into the heatmap's layer (it is opaque and drawn last, as a crisp SVG
  // rectangle would be): one layer, no SVG renderer.
  if (box) {
    const colour = parseHexColour(opts.boxColour ?? BOX_DEFAULTS.colour, 'overlay boxColour');
    paintBoxOutline(rgba, out.width, out.height, scaleBox(box, w, h, out.width, out.height), colour, opts.boxWidth ?? BOX_DEFAULTS.lineWidth);
  }
  const layers: Layer[] = [{ rgba }];
  return { width: out.width, height: out.height, layers };
}
