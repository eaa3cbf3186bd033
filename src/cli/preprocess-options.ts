/**
 * The preprocessing options of the commands that read images (`--input-size`, `--resize`, ...): their
 * table, spread into a command's option table, and the config built from the parsed values.
 */
import {
  ALPHA_POLICIES,
  FAIL_ON,
  INTERPOLATIONS,
  LAYOUTS,
  makePreprocessConfig,
  parseNormalize,
  parseSize,
  RESIZE_POLICIES,
  type PreprocessConfig,
  type PreprocessOptions,
} from '../data/preprocess-config.ts';
import { UsageError } from '../util/errors.ts';
import { oneOfOption, type OptionSpec, type Parsed } from './args.ts';

/** CLI options for preprocessing, to spread into a command's option table. */
export const preprocessCliOptions: Record<string, OptionSpec> = {
  'input-size': { type: 'string', value: 'S|HxW', description: "model input size, square S or height x width (default: the model's input size, else 224)" },
  resize: { type: 'string', value: 'POLICY', description: "'stretch' to the input size, or 'shorter' side to R then centre crop", default: 'stretch' },
  'resize-shorter': { type: 'string', value: 'R', description: "shorter side for --resize shorter (default: round(S * 256 / 224))" },
  'crop-to-box': { type: 'boolean', description: 'crop each image to its bounding box first (CUB bounding_boxes.txt)' },
  interpolation: { type: 'string', value: 'NAME', description: 'bilinear, bicubic or nearest (PIL-compatible)', default: 'bilinear' },
  normalize: { type: 'string', value: 'SPEC', description: "imagenet, none, half, or mean/std like '0.5,0.5,0.5/0.25,0.25,0.25'", default: 'imagenet' },
  layout: { type: 'string', value: 'NCHW|NHWC', description: 'input tensor layout', default: 'NCHW' },
  alpha: { type: 'string', value: 'white|black|ignore', description: 'transparent pixels: composite over white or black, or drop alpha', default: 'white' },
  'ignore-exif-orientation': { type: 'boolean', description: 'do not rotate images by their EXIF Orientation tag' },
  'fail-on': { type: 'string', value: 'LEVEL', description: "reject images on decoder 'truncated', 'error' or 'warning'", default: 'error' },
};

/** The CLI name of a preprocessing setting, for errors. */
const flagOf = (field: string): string => `--${field === 'resizeShorter' ? 'resize-shorter' : field === 'size' ? 'input-size' : field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Build a config from parsed CLI values (see `preprocessCliOptions`). `fallback.size` is used when
 * --input-size is absent (e.g. the model's own input size).
 */
export function preprocessFromArgs(values: Parsed['values'], fallback: { size?: [number, number] } = {}): PreprocessConfig {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const opts: PreprocessOptions = {};
  const size = str('input-size');
  if (size !== undefined) opts.size = parseSize(size);
  else if (fallback.size) opts.size = fallback.size;
  opts.resize = oneOfOption(values, 'resize', RESIZE_POLICIES);
  const r = str('resize-shorter');
  if (r !== undefined) {
    const n = Number(r);
    if (!/^\s*\d+\s*$/.test(r) || n < 1) throw new UsageError(`--resize-shorter: expected a positive integer, got '${r}'`);
    opts.resizeShorter = n;
  }
  if (values['crop-to-box'] === true) opts.cropToBox = true;
  opts.interpolation = oneOfOption(values, 'interpolation', INTERPOLATIONS);
  if (str('normalize') !== undefined) Object.assign(opts, parseNormalize(str('normalize')!));
  if (str('layout') !== undefined) opts.layout = oneOfOption({ layout: str('layout')!.toUpperCase() }, 'layout', LAYOUTS);
  opts.alpha = oneOfOption(values, 'alpha', ALPHA_POLICIES);
  if (values['ignore-exif-orientation'] === true) opts.exifOrientation = false;
  opts.failOn = oneOfOption(values, 'fail-on', FAIL_ON);
  for (const k of Object.keys(opts) as (keyof PreprocessOptions)[]) if (opts[k] === undefined) delete opts[k];
  return makePreprocessConfig(opts, flagOf);
}
