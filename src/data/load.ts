/**
 * One image from file to model input: decode, crop, resize, normalise; parts carried into input
 * pixels. Also the display decode (8-bit RGB at the input geometry and the original) that heatmap
 * overlays draw on.
 */
import sharp from 'sharp';
import { decodeRgb, type RgbImage } from './decode.ts';
import { mapParts, type Geometry } from './geometry.ts';
import type { PreprocessConfig } from './preprocess-config.ts';
import { imageTensorLength, normalizeInto, toInputRgb } from './preprocess.ts';
import type { ImageItem, PartLocation } from './types.ts';

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

/** An 8-bit RGB image as JPEG (4:4:4 chroma, so small patches cut from it stay crisp). */
export async function encodeJpeg(rgb: RgbImage, quality: number): Promise<Uint8Array> {
  const buf = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:4:4', optimiseCoding: false }).toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A JPEG kept by `encodeJpeg` back to 8-bit RGB. */
export async function decodeJpeg(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decodeJpeg: ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}
