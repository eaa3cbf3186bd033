/**
 * The combined view: every pixel coloured by the prototype whose upsampled heatmap is largest there
 * (one categorical colour per prototype), blended over the image, with a legend (colour, prototype
 * label, contribution) drawn into the same PNG as SVG text through librsvg. The parts come from
 * combined-layers.ts.
 */
import sharp from 'sharp';
import { combinedLayers, type CombinedViewOptions, type MapStack } from './combined-layers.ts';
import { asBuffer, composeRgb } from './image.ts';

/**
 * The combined view of one image: each pixel coloured by its strongest prototype (see
 * `strongestPrototype`), blended over the image (`imageRgb`, w x h x 3, 8-bit RGB), and below it a
 * legend with each prototype's colour, label and contribution. `contributions` and `labels` have one
 * entry per map. Returns a PNG; the picture part is round(w x scale) x round(h x scale) at the top
 * left, the canvas is widened (white) if the legend needs more room.
 * @throws InputError on sizes that do not match or bad options.
 */
export async function combinedView(
  imageRgb: Uint8Array,
  w: number,
  h: number,
  maps: MapStack,
  contributions: ArrayLike<number>,
  labels: readonly string[],
  opts: CombinedViewOptions = {},
): Promise<Buffer> {
  const parts = combinedLayers(imageRgb, w, h, maps, contributions, labels, opts);
  const out = { width: parts.width, height: parts.height };
  const picture = await composeRgb(imageRgb, w, h, out.width, out.height, [{ rgba: parts.rgba }]);
  if (!parts.legend) {
    return sharp(asBuffer(picture), { raw: { width: out.width, height: out.height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  }
  const width = parts.legend.width;
  const legend = parts.legend;
  return sharp({ create: { width, height: out.height + legend.height, channels: 3, background: '#ffffff' } })
    .composite([
      { input: asBuffer(picture), raw: { width: out.width, height: out.height, channels: 3 }, left: 0, top: 0 },
      { input: Buffer.from(legend.svg), left: 0, top: out.height },
    ])
    .removeAlpha()
    .png({ compressionLevel: 6 })
    .toBuffer();
}
