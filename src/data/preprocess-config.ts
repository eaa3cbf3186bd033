/**
 * Preprocessing settings: one serialisable object (`PreprocessConfig`) recorded with every output so
 * later steps reproduce the exact input tensors, plus parsing of sizes and normalisations from text and
 * validation of a recorded copy. The command line's preprocessing options live in src/cli/.
 */
import { InputError, UsageError } from '../util/errors.ts';

/** Resize policy: `stretch` to exactly H x W (aspect not kept); `shorter` side to R, then centre crop H x W. */
export type ResizePolicy = 'stretch' | 'shorter';
/** Interpolation used by the resize, bit-identical to Pillow's Image.resize (antialiased when reducing). */
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest';
/** What replaces transparency: composite over white or black, or drop the alpha channel (PIL's convert('RGB')). */
export type AlphaPolicy = 'white' | 'black' | 'ignore';
/** Tensor layout of one image: channels first (3 x H x W) or last (H x W x 3). */
export type Layout = 'NCHW' | 'NHWC';
/** sharp's `failOn`: which decoder complaints reject an image. */
export type FailOn = 'truncated' | 'error' | 'warning';

export type Triple = [number, number, number];

export interface PreprocessConfig {
  /** Model input size as [height, width]. */
  size: [number, number];
  resize: ResizePolicy;
  /** Shorter-side length R for `shorter` (present exactly when resize is 'shorter'). */
  resizeShorter?: number;
  /** Crop each image to its annotated bounding box before resizing (CUB). */
  cropToBox: boolean;
  interpolation: Interpolation;
  /** Name of the normalisation: a preset ('imagenet', 'none', 'half') or 'custom'. */
  normalize: string;
  /** Per-channel (R, G, B) mean and std applied to x / 255: value = (x / 255 - mean) / std. */
  mean: Triple;
  std: Triple;
  layout: Layout;
  alpha: AlphaPolicy;
  /** Apply the EXIF Orientation tag when decoding. */
  exifOrientation: boolean;
  failOn: FailOn;
}

/** Normalisation presets. */
export const NORMALIZE_PRESETS: Readonly<Record<string, { mean: Triple; std: Triple }>> = {
  imagenet: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  none: { mean: [0, 0, 0], std: [1, 1, 1] },
  half: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
};

/** Defaults (documented in docs/data.md). */
export const PREPROCESS_DEFAULTS = {
  size: [224, 224] as [number, number],
  resize: 'stretch' as ResizePolicy,
  cropToBox: false,
  interpolation: 'bilinear' as Interpolation,
  normalize: 'imagenet',
  layout: 'NCHW' as Layout,
  alpha: 'white' as AlphaPolicy,
  exifOrientation: true,
  failOn: 'error' as FailOn,
};

/** torchvision's evaluation convention: shorter side round(S * 256 / 224), S the larger input side. */
export function defaultResizeShorter(size: [number, number]): number {
  return Math.round((Math.max(size[0], size[1]) * 256) / 224);
}

export const RESIZE_POLICIES: readonly ResizePolicy[] = ['stretch', 'shorter'];
export const INTERPOLATIONS: readonly Interpolation[] = ['bilinear', 'bicubic', 'nearest'];
export const ALPHA_POLICIES: readonly AlphaPolicy[] = ['white', 'black', 'ignore'];
export const LAYOUTS: readonly Layout[] = ['NCHW', 'NHWC'];
export const FAIL_ON: readonly FailOn[] = ['truncated', 'error', 'warning'];

/** Settings a caller may give; everything else takes its default. `normalize` may be a preset or 'm,m,m/s,s,s'. */
export interface PreprocessOptions {
  size?: number | [number, number];
  resize?: ResizePolicy;
  resizeShorter?: number;
  cropToBox?: boolean;
  interpolation?: Interpolation;
  normalize?: string;
  mean?: Triple;
  std?: Triple;
  layout?: Layout;
  alpha?: AlphaPolicy;
  exifOrientation?: boolean;
  failOn?: FailOn;
}

type Fail = (message: string) => never;
const usageFail: Fail = (m) => {
  throw new UsageError(m);
};

/**
 * Parse a normalisation: a preset name, or 'm1,m2,m3/s1,s2,s3' (a single value on either side applies
 * to all three channels). Errors name `option` (default '--normalize').
 */
export function parseNormalize(text: string, option = '--normalize', fail: Fail = usageFail): { normalize: string; mean: Triple; std: Triple } {
  const key = text.trim().toLowerCase();
  const preset = NORMALIZE_PRESETS[key];
  if (preset) return { normalize: key, mean: [...preset.mean], std: [...preset.std] };
  const sides = text.split('/');
  if (sides.length !== 2) {
    fail(`${option}: expected a preset (${Object.keys(NORMALIZE_PRESETS).join(', ')}) or 'mean/std' like '0.5,0.5,0.5/0.25,0.25,0.25', got '${text}'`);
  }
  const triple = (s: string, what: string): Triple => {
    const parts = s.split(',').map((p) => p.trim());
    const nums = parts.map(Number);
    if (!(parts.length === 1 || parts.length === 3) || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n))) {
      fail(`${option}: ${what} must be 1 or 3 comma-separated numbers, got '${s}'`);
    }
    return (nums.length === 1 ? [nums[0], nums[0], nums[0]] : nums) as Triple;
  };
  const mean = triple(sides[0], 'mean');
  const std = triple(sides[1], 'std');
  if (std.some((s) => !(s > 0))) fail(`${option}: std values must be > 0, got '${sides[1]}'`);
  return { normalize: 'custom', mean, std };
}

/** Parse an input size: 'S' (square) or 'HxW' (height x width, e.g. '224x160' = 224 rows, 160 columns). */
export function parseSize(text: string, option = '--input-size', fail: Fail = usageFail): [number, number] {
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?$/.exec(text);
  const h = m ? Number(m[1]) : NaN;
  const w = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || !(h >= 1 && w >= 1) || h > 65535 || w > 65535) fail(`${option}: expected 'S' or 'HxW' with positive integers, got '${text}'`);
  return [h, w];
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string, fail: Fail): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    fail(`${name}: expected one of ${allowed.join(', ')}, got '${String(value)}'`);
  }
  return value as T;
}

function checkTriple(v: unknown, name: string, fail: Fail, positive: boolean): Triple {
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || (positive && !(x > 0)))) {
    fail(`${name}: expected 3 finite numbers${positive ? ' > 0' : ''}, got ${JSON.stringify(v)}`);
  }
  return [...(v as number[])] as Triple;
}

function checkSize(v: unknown, name: string, fail: Fail): [number, number] {
  const s = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(s) || s.length !== 2 || s.some((x) => !Number.isInteger(x) || x < 1 || x > 65535)) {
    fail(`${name}: expected [height, width] positive integers, got ${JSON.stringify(v)}`);
  }
  return [...(s as number[])] as [number, number];
}

function build(o: PreprocessOptions, fail: Fail, prefix: string): PreprocessConfig {
  const size = checkSize(o.size ?? PREPROCESS_DEFAULTS.size, `${prefix}size`, fail);
  const resize = oneOf(o.resize ?? PREPROCESS_DEFAULTS.resize, RESIZE_POLICIES, `${prefix}resize`, fail);
  let norm: { normalize: string; mean: Triple; std: Triple };
  if (o.mean !== undefined || o.std !== undefined) {
    norm = {
      normalize: o.normalize ?? 'custom',
      mean: checkTriple(o.mean ?? [0, 0, 0], `${prefix}mean`, fail, false),
      std: checkTriple(o.std ?? [1, 1, 1], `${prefix}std`, fail, true),
    };
  } else {
    norm = parseNormalize(o.normalize ?? PREPROCESS_DEFAULTS.normalize, `${prefix}normalize`, fail);
  }
  const cfg: PreprocessConfig = {
    size,
    resize,
    cropToBox: o.cropToBox ?? PREPROCESS_DEFAULTS.cropToBox,
    interpolation: oneOf(o.interpolation ?? PREPROCESS_DEFAULTS.interpolation, INTERPOLATIONS, `${prefix}interpolation`, fail),
    normalize: norm.normalize,
    mean: norm.mean,
    std: norm.std,
    layout: oneOf(o.layout ?? PREPROCESS_DEFAULTS.layout, LAYOUTS, `${prefix}layout`, fail),
    alpha: oneOf(o.alpha ?? PREPROCESS_DEFAULTS.alpha, ALPHA_POLICIES, `${prefix}alpha`, fail),
    exifOrientation: o.exifOrientation ?? PREPROCESS_DEFAULTS.exifOrientation,
    failOn: oneOf(o.failOn ?? PREPROCESS_DEFAULTS.failOn, FAIL_ON, `${prefix}failOn`, fail),
  };
  if (typeof cfg.cropToBox !== 'boolean') fail(`${prefix}cropToBox: expected true or false, got ${JSON.stringify(cfg.cropToBox)}`);
  if (typeof cfg.exifOrientation !== 'boolean') fail(`${prefix}exifOrientation: expected true or false, got ${JSON.stringify(cfg.exifOrientation)}`);
  if (resize === 'shorter') {
    const r = o.resizeShorter ?? defaultResizeShorter(size);
    if (!Number.isInteger(r) || r < Math.max(size[0], size[1])) {
      fail(`${prefix}resizeShorter: expected an integer >= the larger input side (${Math.max(size[0], size[1])}), got ${JSON.stringify(r)}`);
    }
    cfg.resizeShorter = r;
  } else if (o.resizeShorter !== undefined) {
    fail(`${prefix}resizeShorter: only meaningful with resize 'shorter' (resize is '${resize}')`);
  }
  return cfg;
}

/**
 * A complete config from options and defaults; bad values are UsageErrors naming the setting, through
 * `settingName` when the caller calls settings otherwise (the CLI: `size` is `--input-size`).
 */
export function makePreprocessConfig(options: PreprocessOptions = {}, settingName: (field: string) => string = (f) => f): PreprocessConfig {
  const fail: Fail = (m) => {
    throw new UsageError(m.replace(/^\w+/, settingName));
  };
  return build(options, fail, '');
}

/**
 * Validate a recorded config (e.g. read back from a manifest). Every field must be present; errors
 * are InputErrors naming `source` and the field.
 */
export function validatePreprocessConfig(value: unknown, source: string): PreprocessConfig {
  const fail: Fail = (m) => {
    throw new InputError(`${source}: preprocess config ${m}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`must be an object, got ${JSON.stringify(value)}`);
  const v = value as Record<string, unknown>;
  const required = ['size', 'resize', 'cropToBox', 'interpolation', 'normalize', 'mean', 'std', 'layout', 'alpha', 'exifOrientation', 'failOn'];
  for (const k of required) if (!(k in v)) fail(`is missing '${k}'`);
  if (v.resize === 'shorter' && !('resizeShorter' in v)) fail(`is missing 'resizeShorter' (resize is 'shorter')`);
  const known = new Set([...required, 'resizeShorter']);
  for (const k of Object.keys(v)) if (!known.has(k)) fail(`has unknown field '${k}'`);
  if (typeof v.normalize !== 'string') fail(`normalize: expected a string, got ${JSON.stringify(v.normalize)}`);
  return build(v as PreprocessOptions, fail, '');
}

/** Whether two configs produce identical tensors. */
export function samePreprocess(a: PreprocessConfig, b: PreprocessConfig): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(c: PreprocessConfig): PreprocessConfig {
  const { normalize: _name, ...rest } = c;
  return { ...rest, normalize: '' } as PreprocessConfig;
}
