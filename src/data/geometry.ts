/**
 * Geometry of preprocessing: which source pixels become the model input, and where an annotated
 * point lands. Pure integer arithmetic matching the reference implementations (PIL crop, torchvision
 * Resize/CenterCrop, EvalProtoPNet's part mapping).
 */
import { InputError } from '../util/errors.ts';
import type { PreprocessConfig } from './preprocess-config.ts';
import type { BoundingBox, CropBox, ImageItem, PartLocation } from './types.ts';

/** How one image maps to the model input. */
export interface Geometry {
  /** Decoded (EXIF-oriented) source size. */
  source: { width: number; height: number };
  /** Source region used: the bounding-box crop, or the whole image. */
  crop: CropBox;
  /** Size the region is resized to (equal to the region when it already has the input size). */
  resized: { width: number; height: number };
  /** Top-left of the centre crop taken from the resized region (0, 0 for `stretch`). */
  offset: { left: number; top: number };
  /** Model input size. */
  output: { width: number; height: number };
}

/**
 * Crop box from an annotated bounding box, as the EvalProtoPNet reference does it: each of x, y, w, h
 * truncated to an integer separately, then x2 = x1 + w, y2 = y1 + h.
 */
export function cropFromBox(b: BoundingBox): CropBox {
  const x1 = Math.trunc(b.x) + 0;
  const y1 = Math.trunc(b.y) + 0;
  return { x1, y1, x2: x1 + Math.trunc(b.w), y2: y1 + Math.trunc(b.h) };
}

/** Python 3's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's Resize(int): shorter side to `r`, longer side int(r * long / short). */
export function shorterSideSize(width: number, height: number, r: number): { width: number; height: number } {
  if (width <= height) return { width: r, height: Math.trunc((r * height) / width) };
  return { width: Math.trunc((r * width) / height), height: r };
}

/** The crop region an item uses under `cfg` (the whole image unless cropToBox). */
export function itemCrop(item: Pick<ImageItem, 'id' | 'path' | 'bbox' | 'crop'>, width: number, height: number, cfg: PreprocessConfig): CropBox {
  if (!cfg.cropToBox) return { x1: 0, y1: 0, x2: width, y2: height };
  const c = item.crop ?? (item.bbox ? cropFromBox(item.bbox) : undefined);
  if (!c) {
    throw new InputError(`cropToBox is set but image ${item.id} (${item.path}) has no bounding box; it needs bounding_boxes.txt (CUB layout)`);
  }
  if (!(c.x2 > c.x1 && c.y2 > c.y1)) {
    throw new InputError(`image ${item.id} (${item.path}): bounding box crop [${c.x1}, ${c.x2}) x [${c.y1}, ${c.y2}) is empty`);
  }
  return c;
}

/**
 * The geometry of one image. `stretch`: the region is resized to H x W. `shorter`: the region's
 * shorter side goes to R (longer side int(R * long / short)), then a centre crop H x W with offsets
 * round((resized - output) / 2) (half to even, as Python's round). A region already of the input size
 * is used as is under either policy.
 */
export function computeGeometry(width: number, height: number, crop: CropBox, cfg: PreprocessConfig): Geometry {
  const [H, W] = cfg.size;
  const cw = crop.x2 - crop.x1;
  const ch = crop.y2 - crop.y1;
  const base = { source: { width, height }, crop, output: { width: W, height: H } };
  if (cw === W && ch === H) return { ...base, resized: { width: cw, height: ch }, offset: { left: 0, top: 0 } };
  if (cfg.resize === 'stretch') return { ...base, resized: { width: W, height: H }, offset: { left: 0, top: 0 } };
  const r = cfg.resizeShorter!;
  const resized = shorterSideSize(cw, ch, r);
  return {
    ...base,
    resized,
    offset: { left: roundHalfEven((resized.width - W) / 2), top: roundHalfEven((resized.height - H) / 2) },
  };
}

/**
 * Map a source point to input pixels: x' = int(rw * (px - x1) / (x2 - x1)) - left, likewise y, with
 * rw the resized width and int() truncation toward zero, computed exactly (integer numerator first).
 * EvalProtoPNet computes int(S * ((px - x1) / (x2 - x1))) with the ratio rounded to a double first,
 * which lands one pixel lower in rare cases (offset 61 in a 224-wide box gives 60); the consistency
 * protocol therefore uses its own `mapPointReference` (src/evaluate/protocols/parts.ts), and this
 * function keeps the exact mapping, under which a part stays on its pixel when no resize happens.
 */
export function mapPoint(g: Geometry, px: number, py: number): { x: number; y: number } {
  const { crop, resized, offset } = g;
  const x = Math.trunc((resized.width * (px - crop.x1)) / (crop.x2 - crop.x1)) - offset.left;
  const y = Math.trunc((resized.height * (py - crop.y1)) / (crop.y2 - crop.y1)) - offset.top;
  return { x: x + 0, y: y + 0 };
}

/** Map every part (visible or not) into input pixels, flagging those that fall inside the input. */
export function mapParts(g: Geometry, parts: readonly PartLocation[]): PartLocation[] {
  return parts.map((p) => {
    const { x, y } = mapPoint(g, p.x, p.y);
    return { partId: p.partId, x, y, visible: p.visible, inFrame: x >= 0 && y >= 0 && x < g.output.width && y < g.output.height };
  });
}
