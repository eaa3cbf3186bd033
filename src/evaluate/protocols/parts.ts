/**
 * The part-based protocol of Huang et al. (ICCV 2023, EvalProtoPNet `util/eval_interpretability.py`):
 * which annotated object parts fall inside the region a prototype points at, and from that the
 * consistency and stability scores, with per-class and per-prototype detail.
 *
 * Per image of class c and per prototype j of class c (the ground-truth class, not the prediction):
 * the prototype's map (feature resolution) is upsampled to the input size with cv2.resize
 * INTER_CUBIC (see src/pictures/resize-cv2.ts), its first maximum in row-major order (r, q) gives the region
 * rows max(0, r - half)..min(H, r + half), columns max(0, q - half)..min(W, q + half), and a visible
 * part (y, x) is a hit when it lies in the region with inclusive bounds on both ends.
 *
 * The model is not touched here: callers give maps and parts already in input pixels.
 */
import { cropFromBox } from '../../data/geometry.ts';
import type { PreprocessConfig } from '../../data/preprocess-config.ts';
import type { CropBox, ImageItem, PartLocation } from '../../data/types.ts';
import { InputError } from '../../util/errors.ts';
import { CubicResizer, type CubicArithmetic } from '../../pictures/resize-cv2.ts';

/** Number of annotated parts in CUB-200-2011 (parts/parts.txt). */
export const CUB_PART_COUNT = 15;
/** Region half size of the reference at a 224 x 224 input. */
export const REFERENCE_HALF_SIZE = 36;
/** A prototype is consistent when some part is hit on at least this fraction of the images where it is visible. */
export const REFERENCE_PART_THRESHOLD = 0.8;

/**
 * `strict`: the reference protocol (each image cropped to its bounding box, stretched to the input
 * size, parts mapped into the crop). `uncropped`: whole images stretched to the input size, parts
 * mapped by the same plain resize (a labelled variant, not comparable with published numbers).
 */
export type PartsVariant = 'strict' | 'uncropped';

/**
 * How stability is measured, after the code that published it:
 * - `evalprotopnet` (default): EvalProtoPNet `util/eval_stability.py` — noise N(0, 0.2) added to the
 *   normalised input unclipped, and a (prototype, image) pair is stable when
 *   `(hits_clean - hits_noisy).sum(parts) == 0`: a signed sum, so a part lost and another gained count
 *   as stable. A quirk, kept because published numbers come from this code.
 * - `protopnext`: ProtoPNeXt `protopnet/metrics.py` PartStabilityScore — noise clipped to +-0.25, and
 *   stable when the two part vectors are equal (`abs(...).sum() == 0`).
 */
export type StabilityVariant = 'evalprotopnet' | 'protopnext';
export const STABILITY_VARIANTS: readonly StabilityVariant[] = ['evalprotopnet', 'protopnext'];
/** The rule a variant compares hit vectors with. */
export type StabilityRule = 'signed-sum' | 'same-vector';
export const STABILITY_RULE: Readonly<Record<StabilityVariant, StabilityRule>> = { evalprotopnet: 'signed-sum', protopnext: 'same-vector' };

export interface PartsProtocolOptions {
  /** Model input size [height, width] the maps are upsampled to (reference: [224, 224]). */
  inputSize: [number, number];
  /** Region half size in input pixels (default: round(36 * min(H, W) / 224), exactly 36 at 224). */
  halfSize?: number;
  /** Number of part ids (default 15, CUB); part ids are 1-based. */
  numParts?: number;
  /** Resize arithmetic (default 'opencv', bit-exact with OpenCV's own float32 path). */
  arithmetic?: CubicArithmetic;
}

/** Options with every default filled in. */
export interface ResolvedPartsOptions {
  inputSize: [number, number];
  halfSize: number;
  numParts: number;
  arithmetic: CubicArithmetic;
}

/** The default half size for an input of [H, W]: round(36 * min(H, W) / 224), halves rounded up. */
export function defaultHalfSize(inputSize: readonly [number, number]): number {
  return Math.max(1, Math.round((REFERENCE_HALF_SIZE * Math.min(inputSize[0], inputSize[1])) / 224));
}

/** Validate options and fill in defaults; errors name the option. */
export function resolvePartsOptions(o: PartsProtocolOptions): ResolvedPartsOptions {
  const [H, W] = o.inputSize ?? [];
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) {
    throw new InputError(`parts protocol: inputSize must be [height, width] positive integers, got ${JSON.stringify(o.inputSize)}`);
  }
  const halfSize = o.halfSize ?? defaultHalfSize([H, W]);
  // The region must be a region: at least 3 x 3 pixels, and smaller than the image even around its centre
  // (a half size of min(H, W) / 2 or more makes every prototype hit every visible part).
  const maxHalf = Math.ceil(Math.min(H, W) / 2) - 1;
  if (!Number.isInteger(halfSize) || halfSize < 1 || halfSize > maxHalf) {
    throw new InputError(`parts protocol: halfSize must be an integer from 1 to ${maxHalf} for a ${H} x ${W} input (the region must be smaller than the image), got ${o.halfSize}`);
  }
  const numParts = o.numParts ?? CUB_PART_COUNT;
  if (!Number.isInteger(numParts) || numParts < 1) throw new InputError(`parts protocol: numParts must be a positive integer, got ${o.numParts}`);
  const arithmetic = o.arithmetic ?? 'opencv';
  if (arithmetic !== 'opencv' && arithmetic !== 'float64') throw new InputError(`parts protocol: arithmetic must be 'opencv' or 'float64', got '${String(arithmetic)}'`);
  return { inputSize: [H, W], halfSize, numParts, arithmetic };
}

// ---------------------------------------------------------------------------------------------
// Part locations

/**
 * The preprocessing the variant prescribes, from the model's own (size, normalisation, layout):
 * a plain resize to the input size (aspect not kept), cropped to the bounding box for `strict`.
 */
export function protocolPreprocess(base: PreprocessConfig, variant: PartsVariant): PreprocessConfig {
  const cfg: PreprocessConfig = { ...base, resize: 'stretch', cropToBox: variant === 'strict' };
  delete cfg.resizeShorter;
  return cfg;
}

/**
 * The source region the variant maps parts from: the truncated bounding box for `strict` (as the
 * reference: x1 = int(x), x2 = x1 + int(w)), the whole image for `uncropped`.
 */
export function protocolCrop(item: Pick<ImageItem, 'id' | 'path' | 'bbox' | 'crop'>, variant: PartsVariant, source: { width: number; height: number }): CropBox {
  if (variant === 'uncropped') return { x1: 0, y1: 0, x2: source.width, y2: source.height };
  const c = item.crop ?? (item.bbox ? cropFromBox(item.bbox) : undefined);
  if (!c) throw new InputError(`parts protocol (strict): image ${item.id} (${item.path}) has no bounding box; the strict protocol needs bounding_boxes.txt`);
  if (!(c.x2 > c.x1 && c.y2 > c.y1)) throw new InputError(`parts protocol (strict): image ${item.id} (${item.path}) has an empty bounding box`);
  return c;
}

/**
 * Map a source point into input pixels exactly as the reference does:
 * int(S * ((px - x1) / (x2 - x1))), the ratio first, then the product, then truncation toward zero.
 * (The order matters: 224 * (61 / 224) is 60.99999999999999 in double, so the reference gets 60.)
 */
export function mapPointReference(crop: CropBox, inputSize: readonly [number, number], px: number, py: number): { x: number; y: number } {
  const [H, W] = inputSize;
  const x = Math.trunc(W * ((px - crop.x1) / (crop.x2 - crop.x1)));
  const y = Math.trunc(H * ((py - crop.y1) / (crop.y2 - crop.y1)));
  return { x: x + 0, y: y + 0 };
}

/**
 * An image's parts (source pixels, integer as read from part_locs.txt) mapped into input pixels for
 * the protocol. All parts are kept with their visible flags; parts that land outside the input are
 * kept too (the reference keeps them, and the inclusive region bound at H or W can still hit them).
 */
export function protocolParts(parts: readonly PartLocation[], crop: CropBox, inputSize: readonly [number, number]): PartLocation[] {
  return parts.map((p) => ({ partId: p.partId, visible: p.visible, ...mapPointReference(crop, inputSize, p.x, p.y) }));
}

/** 0/1 per part id (index = partId - 1): visible in this image. */
export function visibleMask(parts: readonly PartLocation[], numParts: number, what = 'image'): Uint8Array {
  const m = new Uint8Array(numParts);
  for (const p of parts) {
    if (!Number.isInteger(p.partId) || p.partId < 1 || p.partId > numParts) {
      throw new InputError(`${what}: part id ${p.partId} outside 1..${numParts} (part ids are 1-based; set numParts for datasets other than CUB)`);
    }
    if (p.visible) m[p.partId - 1] = 1;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Regions and hits

/** A prototype's region in input pixels: rows y1..y2 and columns x1..x2, both bounds inclusive. */
export interface Region {
  y1: number;
  y2: number;
  x1: number;
  x2: number;
}

/** Region around a peak at (row, col): (max(0, r - half), min(H, r + half), max(0, q - half), min(W, q + half)). */
export function regionAround(row: number, col: number, halfSize: number, inputSize: readonly [number, number]): Region {
  const [H, W] = inputSize;
  return { y1: Math.max(0, row - halfSize), y2: Math.min(H, row + halfSize), x1: Math.max(0, col - halfSize), x2: Math.min(W, col + halfSize) };
}

/** The reference's `in_bbox`: y1 <= y <= y2 and x1 <= x <= x2. */
export function inRegion(y: number, x: number, r: Region): boolean {
  return y >= r.y1 && y <= r.y2 && x >= r.x1 && x <= r.x2;
}

/** 0/1 per part id: the part is visible and inside the region. */
export function partHits(region: Region, parts: readonly PartLocation[], numParts: number, what = 'image'): Uint8Array {
  const hits = new Uint8Array(numParts);
  for (const p of parts) {
    if (!Number.isInteger(p.partId) || p.partId < 1 || p.partId > numParts) {
      throw new InputError(`${what}: part id ${p.partId} outside 1..${numParts} (part ids are 1-based; set numParts for datasets other than CUB)`);
    }
    if (p.visible && inRegion(p.y, p.x, region)) hits[p.partId - 1] = 1;
  }
  return hits;
}

/** Where one prototype points: the first maximum of its upsampled map, and the region around it. */
export interface PrototypeRegion {
  row: number;
  col: number;
  /** The upsampled map's maximum. */
  value: number;
  region: Region;
}

/**
 * Scores the images of one input geometry: holds the resizer (tap tables computed once). The peak
 * is found with `CubicResizer.firstMax`, identical to the first maximum of the full upsampled map.
 */
export class PartsScorer {
  readonly options: ResolvedPartsOptions;
  private resizer?: CubicResizer;

  constructor(options: PartsProtocolOptions) {
    this.options = resolvePartsOptions(options);
  }

  private resizerFor(h: number, w: number): CubicResizer {
    const [H, W] = this.options.inputSize;
    if (!this.resizer || this.resizer.inHeight !== h || this.resizer.inWidth !== w) {
      this.resizer = new CubicResizer(h, w, H, W, { arithmetic: this.options.arithmetic });
    }
    return this.resizer;
  }

  /** Upsample one map (h x w) to the input size and locate its region. */
  region(map: ArrayLike<number>, mapSize: readonly [number, number], what = 'prototype map'): PrototypeRegion {
    const [h, w] = mapSize;
    const [, W] = this.options.inputSize;
    if (map.length !== h * w) throw new InputError(`${what}: ${map.length} values, ${h} x ${w} = ${h * w} expected`);
    let peak: { index: number; value: number };
    try {
      peak = this.resizerFor(h, w).firstMax(map);
    } catch (e) {
      if (e instanceof InputError) throw new InputError(`${what}: ${e.message}`);
      throw e;
    }
    const row = Math.floor(peak.index / W);
    const col = peak.index - row * W;
    return { row, col, value: peak.value, region: regionAround(row, col, this.options.halfSize, this.options.inputSize) };
  }

  /**
   * Hits of one image: maps of its class's k prototypes (k x h x w, row-major) against its parts
   * (input pixels). Returns k x numParts 0/1 values, prototype-major.
   */
  imageHits(maps: Float32Array | Float64Array, k: number, mapSize: readonly [number, number], parts: readonly PartLocation[], what = 'image'): Uint8Array {
    return this.imageRegions(maps, k, mapSize, parts, what).hits;
  }

  /**
   * Peaks and hits of one image: as `imageHits`, plus where each prototype points (k x 2: row and
   * column of its map's first maximum after upsampling, input pixels).
   */
  imageRegions(maps: Float32Array | Float64Array, k: number, mapSize: readonly [number, number], parts: readonly PartLocation[], what = 'image'): { peaks: Int32Array; hits: Uint8Array } {
    const [h, w] = mapSize;
    const P = this.options.numParts;
    if (!Number.isInteger(k) || k < 1) throw new InputError(`${what}: k must be a positive integer, got ${k}`);
    if (maps.length !== k * h * w) throw new InputError(`${what}: prototype maps have ${maps.length} values, k x h x w = ${k} x ${h} x ${w} = ${k * h * w} expected`);
    const peaks = new Int32Array(k * 2);
    const hits = new Uint8Array(k * P);
    for (let j = 0; j < k; j++) {
      const r = this.region(maps.subarray(j * h * w, (j + 1) * h * w), mapSize, `${what}, prototype ${j}`);
      peaks[2 * j] = r.row;
      peaks[2 * j + 1] = r.col;
      hits.set(partHits(r.region, parts, P, what), j * P);
    }
    return { peaks, hits };
  }
}

// ---------------------------------------------------------------------------------------------
// Scores

/** One image's observation: its class, visible parts, and hits on the clean (and perturbed) input. */
export interface PartObservation {
  /** Ground-truth class. */
  label: number;
  /** numParts 0/1: part visible. */
  visible: Uint8Array;
  /** k x numParts 0/1: part inside prototype j's region (clean input). */
  hits: Uint8Array;
  /** The same on the perturbed input; needed by `stability`. */
  noisyHits?: Uint8Array;
}

export interface PrototypeConsistency {
  class: number;
  prototype: number;
  /** Per part (index = partId - 1): hits / max(visible count, 1) over the class's images. */
  rates: number[];
  /** 1-based id of the part with the highest rate (the first on ties). */
  bestPart: number;
  bestRate: number;
  consistent: boolean;
}

export interface ClassScore {
  class: number;
  /** Images of the class that were scored. */
  images: number;
  /** 100 x mean over the class's prototypes (null when the class has no images, for stability). */
  score: number | null;
}

export interface ConsistencyReport {
  /** 100 x fraction of consistent prototypes, over every class's prototypes. */
  score: number;
  partThreshold: number;
  prototypes: number;
  consistentPrototypes: number;
  perClass: ClassScore[];
  perPrototype: PrototypeConsistency[];
}

export interface PrototypeStability {
  class: number;
  prototype: number;
  /** Fraction of the class's images whose part vector is unchanged by the perturbation (null: no images). */
  stability: number | null;
}

export interface StabilityReport {
  /** 100 x mean over prototypes of classes with at least one image, by `rule`. */
  score: number;
  /** The comparison the score uses (set by the stability variant). */
  rule: StabilityRule;
  /** The score by each rule on the same noisy pass (the other one for comparison). */
  byRule: Record<StabilityRule, number>;
  prototypes: number;
  /** Classes without images (their prototypes are left out of the mean; the reference would return NaN). */
  classesWithoutImages: number[];
  perClass: ClassScore[];
  perPrototype: PrototypeStability[];
}

/**
 * Collects per-image hit vectors, class by class, in O(classes x k x parts) memory, and computes the
 * consistency and stability scores of the reference from them.
 */
export class PartsAccumulator {
  private readonly images: Int32Array;
  private readonly hitSums: Int32Array;
  private readonly visibleCounts: Int32Array;
  /** Per class and prototype: images whose hits are unchanged by the signed sum over parts / exactly. */
  private readonly stableSigned: Int32Array;
  private readonly stableSame: Int32Array;
  private noisyImages = 0;
  private total = 0;

  /**
   * @param numClasses classes of the network (every class's k prototypes are scored, as the
   *   reference enumerates all classes)
   * @param k prototypes per class
   * @param numParts part ids 1..numParts
   * @param counts prototypes of each class when they differ (k 'auto'): class c's are 0 .. counts[c] - 1
   */
  constructor(
    readonly numClasses: number,
    readonly k: number,
    readonly numParts: number = CUB_PART_COUNT,
    readonly counts: Int32Array | null = null,
  ) {
    for (const [n, v] of [['numClasses', numClasses], ['k', k], ['numParts', numParts]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new InputError(`parts scores: ${n} must be a positive integer, got ${v}`);
    }
    this.images = new Int32Array(numClasses);
    this.hitSums = new Int32Array(numClasses * k * numParts);
    this.visibleCounts = new Int32Array(numClasses * numParts);
    this.stableSigned = new Int32Array(numClasses * k);
    this.stableSame = new Int32Array(numClasses * k);
  }

  /** Images added so far. */
  get count(): number {
    return this.total;
  }

  /** Add one image. `noisyHits` must be given for every image or for none. */
  add(obs: PartObservation, what = 'image'): void {
    const { k, numParts: P } = this;
    const c = obs.label;
    if (!Number.isInteger(c) || c < 0 || c >= this.numClasses) throw new InputError(`${what}: label ${c} outside 0..${this.numClasses - 1}`);
    if (obs.visible.length !== P) throw new InputError(`${what}: visible mask has ${obs.visible.length} entries, ${P} expected`);
    if (obs.hits.length !== k * P) throw new InputError(`${what}: hits have ${obs.hits.length} entries, k x parts = ${k * P} expected`);
    if (obs.noisyHits && obs.noisyHits.length !== k * P) throw new InputError(`${what}: noisy hits have ${obs.noisyHits.length} entries, ${k * P} expected`);
    if ((obs.noisyHits !== undefined) !== (this.noisyImages === this.total) && this.total > 0) {
      throw new InputError(`${what}: noisy hits must be given for every image or for none`);
    }
    for (let p = 0; p < P; p++) {
      if (obs.visible[p]) this.visibleCounts[c * P + p]++;
      for (let j = 0; j < k; j++) {
        if (obs.hits[j * P + p] && !obs.visible[p]) throw new InputError(`${what}: prototype ${j} hits part ${p + 1}, which is not visible`);
      }
    }
    const base = c * k * P;
    for (let i = 0; i < k * P; i++) this.hitSums[base + i] += obs.hits[i] ? 1 : 0;
    if (obs.noisyHits) {
      for (let j = 0; j < k; j++) {
        let same = true;
        let signed = 0;
        for (let p = 0; p < P; p++) {
          const d = (obs.hits[j * P + p] ? 1 : 0) - (obs.noisyHits[j * P + p] ? 1 : 0);
          signed += d;
          if (d !== 0) same = false;
        }
        if (signed === 0) this.stableSigned[c * k + j]++;
        if (same) this.stableSame[c * k + j]++;
      }
      this.noisyImages++;
    }
    this.images[c]++;
    this.total++;
  }

  /** The consistency score and its detail (threshold: default 0.8). */
  consistency(partThreshold = REFERENCE_PART_THRESHOLD): ConsistencyReport {
    const { k, numParts: P, numClasses: C } = this;
    const perPrototype: PrototypeConsistency[] = [];
    const perClass: ClassScore[] = [];
    let consistentTotal = 0;
    let prototypes = 0;
    for (let c = 0; c < C; c++) {
      let consistentInClass = 0;
      const kc = this.counts?.[c] ?? k;
      prototypes += kc;
      for (let j = 0; j < kc; j++) {
        const rates: number[] = [];
        let bestPart = 1;
        let bestRate = -1;
        let consistent = false;
        for (let p = 0; p < P; p++) {
          const denom = this.visibleCounts[c * P + p] || 1;
          const rate = this.hitSums[(c * k + j) * P + p] / denom;
          rates.push(rate);
          if (rate > bestRate) {
            bestRate = rate;
            bestPart = p + 1;
          }
          if (rate >= partThreshold) consistent = true;
        }
        if (consistent) consistentInClass++;
        perPrototype.push({ class: c, prototype: j, rates, bestPart, bestRate, consistent });
      }
      consistentTotal += consistentInClass;
      perClass.push({ class: c, images: this.images[c], score: (100 * consistentInClass) / kc });
    }
    return { score: (100 * consistentTotal) / prototypes, partThreshold, prototypes, consistentPrototypes: consistentTotal, perClass, perPrototype };
  }

  /**
   * The stability score by `rule` (default the EvalProtoPNet signed sum) and its detail; needs noisy
   * hits for every image.
   */
  stability(rule: StabilityRule = 'signed-sum'): StabilityReport {
    const report = this.stabilityBy(rule);
    const other = this.stabilityBy(rule === 'signed-sum' ? 'same-vector' : 'signed-sum');
    return { ...report, rule, byRule: { [rule]: report.score, [other.rule]: other.score } as Record<StabilityRule, number> };
  }

  private stabilityBy(rule: StabilityRule): Omit<StabilityReport, 'byRule'> {
    if (rule !== 'signed-sum' && rule !== 'same-vector') throw new InputError(`parts scores: stability rule must be 'signed-sum' or 'same-vector', got '${String(rule)}'`);
    const counts = rule === 'signed-sum' ? this.stableSigned : this.stableSame;
    const { k, numClasses: C } = this;
    if (this.total === 0) throw new InputError('parts scores: no images were added');
    if (this.noisyImages !== this.total) throw new InputError('parts scores: stability needs the perturbed hits of every image (noisyHits)');
    const perPrototype: PrototypeStability[] = [];
    const perClass: ClassScore[] = [];
    const classesWithoutImages: number[] = [];
    let sum = 0;
    let counted = 0;
    for (let c = 0; c < C; c++) {
      const n = this.images[c];
      if (n === 0) classesWithoutImages.push(c);
      let classSum = 0;
      const kc = this.counts?.[c] ?? k;
      for (let j = 0; j < kc; j++) {
        const s = n === 0 ? null : counts[c * k + j] / n;
        perPrototype.push({ class: c, prototype: j, stability: s });
        if (s !== null) {
          classSum += s;
          sum += s;
          counted++;
        }
      }
      perClass.push({ class: c, images: n, score: n === 0 ? null : (100 * classSum) / kc });
    }
    return { score: (100 * sum) / counted, rule, prototypes: counted, classesWithoutImages, perClass, perPrototype };
  }
}
