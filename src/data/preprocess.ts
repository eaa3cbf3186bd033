/**
 * From decoded pixels to model input, without file access: the crop and Pillow-exact resize to the
 * input geometry, and the normalisation into the tensor layout. load.ts puts a decoder in front; the
 * browser (src/site/browser/) puts its own.
 */
import type { RgbImage } from './decode.ts';
import { computeGeometry, itemCrop, type Geometry } from './geometry.ts';
import type { PreprocessConfig } from './preprocess-config.ts';
import { cropRgb, resizeRgb } from './resize.ts';
import type { ImageItem } from './types.ts';

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
