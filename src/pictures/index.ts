/**
 * Explanation pictures, built from plain inputs (an 8-bit RGB image at the model's input geometry and
 * float maps at feature resolution): prototype heatmaps, overlays with the 95th-percentile box,
 * exemplar crops and their context pictures, and the combined view. See docs/pictures.md.
 */
export { VIRIDIS_LUT, viridis, viridisLevel } from './colormap.ts';
export { CATEGORICAL_PALETTE, categoricalColour, parseHexColour, toHex, type Rgb } from './palette.ts';
export { resizeBicubic } from './upsample.ts';
export { percentile, percentileBox, checkBox, type Box } from './percentile.ts';
export {
  heatmapRgba,
  upsampleMap,
  sharedScale,
  normaliseMap,
  intensityRgba,
  HEATMAP_DEFAULTS,
  type HeatmapOptions,
  type HeatmapNormalisation,
} from './heatmap.ts';
export { overlay, crop, boxOnImage, prototypeBox, BOX_DEFAULTS, type OverlayOptions, type BoxOnImageOptions, type CropKernel } from './overlay.ts';
export {
  combinedView,
  strongestPrototype,
  formatSigned,
  COMBINED_DEFAULTS,
  type MapStack,
  type CombinedViewOptions,
  type PixelAssignment,
} from './combined.ts';
