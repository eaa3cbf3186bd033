/**
 * One image from file to model input: decode, crop, resize, normalise; parts carried into input
 * pixels. Also the display decode (8-bit RGB at the input geometry and the original) that heatmap
 * overlays draw on.
 */
import { decodeRgb, type RgbImage } from './decode.ts';
import { computeGeometry, itemCrop, mapParts, type Geometry } from './geometry.ts';
import type { PreprocessConfig } from './preprocess-config.ts';
import { cropRgb, resizeRgb } from './resize.ts';
import type { ImageItem, PartLocation } from './types.ts';

/** Number of float32 values one preprocessed image occupies (3 x H x W). */
export function imageTensorLength(cfg: PreprocessConfig): number {
  return 3 * cfg.size[0] * cfg.size[1];
}

/** Tensor shape of a batch of n images under cfg's layout. */
export function batchShape(n: number, cfg: PreprocessConfig): [number, number, number, number] {
  const [H, W] = cfg.size;
  return cfg.layout === 'NCHW' ? [n, 3, H, W] : [n, H, W, 3];
}

const lutCache = new WeakMap<PreprocessConfig, Float32Array>();

/**
 * Per-channel lookup table value[c * 256 + v], computed in float32 exactly as torchvision does on a
 * float32 tensor: ToTensor (v / 255), then Normalize ((x - mean) / std).
 */
export function normalizationTable(cfg: Pick<PreprocessConfig, 'mean' | 'std'>): Float32Array {
  const f = Math.fround;
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f(cfg.mean[c]);
    const s = f(cfg.std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  return lut;
}

/** Write a normalised image (RGB at the input size) into `out` at `offset`, in cfg's layout. */
export function normalizeInto(rgb: RgbImage, cfg: PreprocessConfig, out: Float32Array, offset = 0): void {
  const [H, W] = cfg.size;
  if (rgb.width !== W || rgb.height !== H) throw new Error(`normalizeInto: image is ${rgb.width}x${rgb.height}, input is ${W}x${H}`);
  let lut = lutCache.get(cfg);
  if (!lut) {
    lut = normalizationTable(cfg);
    lutCache.set(cfg, lut);
  }
  const d = rgb.data;
  const n = H * W;
  if (cfg.layout === 'NCHW') {
    for (let i = 0; i < n; i++) {
      out[offset + i] = lut[d[i * 3]];
      out[offset + n + i] = lut[256 + d[i * 3 + 1]];
      out[offset + 2 * n + i] = lut[512 + d[i * 3 + 2]];
    }
  } else {
    for (let i = 0; i < 3 * n; i += 3) {
      out[offset + i] = lut[d[i]];
      out[offset + i + 1] = lut[256 + d[i + 1]];
      out[offset + i + 2] = lut[512 + d[i + 2]];
    }
  }
}

/** Crop and resize a decoded image to the input geometry (8-bit RGB). */
export async function toInputRgb(src: RgbImage, item: Pick<ImageItem, 'id' | 'path' | 'bbox' | 'crop'>, cfg: PreprocessConfig): Promise<{ rgb: RgbImage; geometry: Geometry }> {
  const crop = itemCrop(item, src.width, src.height, cfg);
  const g = computeGeometry(src.width, src.height, crop, cfg);
  const region = cropRgb(src, crop);
  const resized = await resizeRgb(region, g.resized.width, g.resized.height, cfg.interpolation);
  const rgb = cropRgb(resized, { x1: g.offset.left, y1: g.offset.top, x2: g.offset.left + g.output.width, y2: g.offset.top + g.output.height });
  return { rgb, geometry: g };
}

/** A preprocessed image. */
export interface LoadedImage {
  /** 3 x H x W (NCHW) or H x W x 3 (NHWC) float32, normalised. A view into `out` when one was given. */
  tensor: Float32Array;
  geometry: Geometry;
  /** The item's parts in input pixels (all of them, with visible and inFrame flags). */
  parts?: PartLocation[];
  /** 8-bit RGB at the input geometry, when `keepRgb` was asked. */
  rgb?: RgbImage;
}

/**
 * Decode and preprocess one item. File problems throw `DecodeFailure` (an InputError naming the
 * file); `out`/`offset` write the tensor into a caller's buffer (a batch) instead of a new one.
 */
export async function loadImage(
  item: Pick<ImageItem, 'id' | 'path' | 'bbox' | 'crop' | 'parts'>,
  cfg: PreprocessConfig,
  options: { keepRgb?: boolean; out?: Float32Array; offset?: number } = {},
): Promise<LoadedImage> {
  const src = await decodeRgb(item.path, cfg);
  const { rgb, geometry } = await toInputRgb(src, item, cfg);
  const len = imageTensorLength(cfg);
  const offset = options.offset ?? 0;
  const out = options.out ?? new Float32Array(len);
  normalizeInto(rgb, cfg, out, offset);
  const result: LoadedImage = { tensor: out.subarray(offset, offset + len), geometry };
  if (item.parts) result.parts = mapParts(geometry, item.parts);
  if (options.keepRgb) result.rgb = rgb;
  return result;
}

/** An image for display: what the model sees (as 8-bit RGB) and the decoded original. */
export interface DisplayImage {
  /** RGB at the input geometry (after crop and resize), H x W x 3. */
  input: RgbImage;
  /** The decoded original (EXIF-oriented, alpha handled), before any crop. */
  original: RgbImage;
  geometry: Geometry;
  parts?: PartLocation[];
}

/** Decode one image for display; `item` may be a bare path. */
export async function decodeForDisplay(item: string | Pick<ImageItem, 'id' | 'path' | 'bbox' | 'crop' | 'parts'>, cfg: PreprocessConfig): Promise<DisplayImage> {
  const it = typeof item === 'string' ? { id: item, path: item } : item;
  const original = await decodeRgb(it.path, cfg);
  const { rgb, geometry } = await toInputRgb(original, it, cfg);
  const d: DisplayImage = { input: rgb, original, geometry };
  if ('parts' in it && it.parts) d.parts = mapParts(geometry, it.parts);
  return d;
}
