/**
 * Options of `buildNetwork`, their defaults and validation. Decomposition options are the ones of
 * src/prototypes (preset, k, scaling, objective, allocator, norm, seed, solver settings); the rest
 * say which images are used, how they are preprocessed, where features are cached and how many
 * exemplars are drawn.
 */
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { DatasetFormat, Split } from '../data/dataset.ts';
import type { PreprocessOptions } from '../data/preprocess-config.ts';
import type { LoadClassifierOptions } from '../model/classifier.ts';

type InputLayout = NonNullable<LoadClassifierOptions['inputLayout']>;
import { DEFAULT_EXEMPLAR_CONTEXT_SIZE, DEFAULT_EXEMPLAR_EFFORT, DEFAULT_EXEMPLAR_FORMAT, DEFAULT_EXEMPLAR_PERCENTILE, DEFAULT_EXEMPLAR_QUALITY, DEFAULT_EXEMPLARS, EXEMPLAR_FORMATS, type ExemplarFormat } from './exemplars.ts';
import { resolveOptions, type DecomposeOptions, type ResolvedOptions } from '../prototypes/options.ts';
import { InputError } from '../util/errors.ts';
import { checkedChoice, checkedInteger, checkedNumber, optional } from '../util/options.ts';

/** Folder name of the default feature cache, created next to the network folder. */
export const DEFAULT_CACHE_NAME = '.protolens-cache';

export interface BuildOptions {
  /** The ONNX classifier (GAP + linear head). */
  model: string;
  /** Dataset root (ImageFolder or CUB-200-2011). */
  data: string;
  /** Network folder to write (created; an existing network folder is replaced only when the build succeeds). */
  out: string;
  /** Dataset layout; default 'auto' (CUB when images.txt and classes.txt are at the root). */
  format?: DatasetFormat | 'auto';
  /** Split; default 'train' for CUB, 'all' for ImageFolder (which has no split). */
  split?: Split;
  /** ImageFolder classes in the model's output order (array, or a file with one name per line). */
  classList?: string[] | string;
  /** At most this many images per class, evenly spaced over the class's listing. Default: all. */
  maxImagesPerClass?: number;
  /** Run size for models with a dynamic input (square S or [H, W]); default the model's fixed size, else 224. */
  inputSize?: number | [number, number];
  /** Preprocessing other than size and layout (both come from the model): resize, normalisation, ... */
  preprocess?: Omit<PreprocessOptions, 'size' | 'layout'>;
  /** Model input layout, overriding the guess. */
  inputLayout?: InputLayout;
  /** Graph output holding the logits, when ambiguous. */
  logitsOutput?: string;
  /** Grid for N x T x D token features. */
  tokenGrid?: [number, number];
  /** onnxruntime intra-op threads for extraction (default: onnxruntime's choice, one per core). */
  ortThreads?: number;
  /** Bound on the relative error of the classifier's load-time logit check (default 1e-4, see docs/model.md). */
  headTolerance?: number;
  /** Images per inference batch (default: the model's fixed batch, else 32). */
  batchSize?: number;
  /** Decomposition options (k, preset, scaling, objective, allocator, norm, seed, nmf, ...). `maxImages` is not accepted here: use maxImagesPerClass. */
  decompose?: Omit<DecomposeOptions, 'maxImages'>;
  /** Decomposition worker threads (default: available parallelism). */
  threads?: number;
  /** Feature cache root (default: <parent of out>/.protolens-cache). */
  cache?: string;
  /** Exemplars per prototype (default 5; 0 writes none). */
  exemplars?: number;
  /** Percentile of the upsampled map that makes an exemplar's box (default 95). */
  exemplarPercentile?: number;
  /** Exemplar picture format: 'webp' (default, lossy), 'jpeg' (lossy, faster to encode, larger) or 'png'. */
  exemplarFormat?: ExemplarFormat;
  /** WebP or JPEG quality of exemplar pictures, 1-100 (default 80). */
  exemplarQuality?: number;
  /** WebP effort of exemplar pictures, 0-6 (default 2). */
  exemplarEffort?: number;
  /** Longer side of exemplar context pictures in pixels (default 112). */
  exemplarContextSize?: number;
  /** Undecodable images are an error instead of being skipped and listed (default false). */
  strict?: boolean;
  /** Aborting stops the build at the next batch or class; finished classes stay cached. */
  signal?: AbortSignal;
}

/** Options after validation and defaults. */
export interface ResolvedBuildOptions {
  model: string;
  data: string;
  out: string;
  format: DatasetFormat | 'auto';
  split: Split | null;
  classList?: string[] | string;
  maxImagesPerClass: number | null;
  inputSize: number | [number, number] | null;
  preprocess: Omit<PreprocessOptions, 'size' | 'layout'>;
  inputLayout?: InputLayout;
  logitsOutput?: string;
  tokenGrid?: [number, number];
  ortThreads: number | null;
  headTolerance: number | null;
  batchSize: number | null;
  decompose: ResolvedOptions;
  /** The decomposition options as given (validated), passed on to the solver. */
  decomposeInput: DecomposeOptions;
  threads: number;
  cache: string;
  exemplars: number;
  exemplarPercentile: number;
  exemplarFormat: ExemplarFormat;
  exemplarQuality: number;
  exemplarEffort: number;
  exemplarContextSize: number;
  strict: boolean;
}

const int = (name: string, v: unknown, min: number): number | null => optional(v, null, (x) => checkedInteger(`option ${name}`, x, min));
const tolerance = (v: unknown): number | null => optional(v, null, (x) => checkedNumber('option headTolerance', x, { min: 0 }));

/** The default feature cache for a network folder: `<parent of out>/.protolens-cache`. */
export function defaultCacheDir(out: string): string {
  return join(dirname(resolve(out)), DEFAULT_CACHE_NAME);
}

/** Validate and fill defaults. Throws InputError naming the option. */
export function resolveBuildOptions(o: BuildOptions): ResolvedBuildOptions {
  for (const key of ['model', 'data', 'out'] as const) {
    if (typeof o[key] !== 'string' || o[key] === '') throw new InputError(`option ${key}: expected a path, got ${JSON.stringify(o[key])}`);
  }
  if (o.decompose && 'maxImages' in o.decompose && (o.decompose as DecomposeOptions).maxImages !== undefined) {
    throw new InputError('option decompose.maxImages: not used by build; cap the images with maxImagesPerClass (applied before extraction)');
  }
  const out = resolve(o.out);
  if (basename(out) === '') throw new InputError(`option out: '${o.out}' is not a folder that can be created`);
  const pct = optional(o.exemplarPercentile, DEFAULT_EXEMPLAR_PERCENTILE, (x) => checkedNumber('option exemplarPercentile', x, { min: 0, max: 100 }));
  return {
    model: resolve(o.model),
    data: resolve(o.data),
    out,
    format: o.format ?? 'auto',
    split: o.split ?? null,
    ...(o.classList !== undefined ? { classList: o.classList } : {}),
    maxImagesPerClass: int('maxImagesPerClass', o.maxImagesPerClass, 1),
    inputSize: o.inputSize ?? null,
    preprocess: { ...(o.preprocess ?? {}) },
    ...(o.inputLayout ? { inputLayout: o.inputLayout } : {}),
    ...(o.logitsOutput ? { logitsOutput: o.logitsOutput } : {}),
    ...(o.tokenGrid ? { tokenGrid: o.tokenGrid } : {}),
    ortThreads: int('ortThreads', o.ortThreads, 1),
    headTolerance: tolerance(o.headTolerance),
    batchSize: int('batchSize', o.batchSize, 1),
    decompose: resolveOptions(o.decompose ?? {}),
    decomposeInput: { ...(o.decompose ?? {}) },
    threads: int('threads', o.threads, 1) ?? availableParallelism(),
    cache: resolve(o.cache ?? defaultCacheDir(o.out)),
    exemplars: int('exemplars', o.exemplars, 0) ?? DEFAULT_EXEMPLARS,
    exemplarPercentile: pct,
    exemplarFormat: optional(o.exemplarFormat, DEFAULT_EXEMPLAR_FORMAT, (x) => checkedChoice('option exemplarFormat', x, EXEMPLAR_FORMATS)),
    exemplarQuality: optional(o.exemplarQuality, DEFAULT_EXEMPLAR_QUALITY, (x) => checkedInteger('option exemplarQuality', x, 1, 100)),
    exemplarEffort: optional(o.exemplarEffort, DEFAULT_EXEMPLAR_EFFORT, (x) => checkedInteger('option exemplarEffort', x, 0, 6)),
    exemplarContextSize: int('exemplarContextSize', o.exemplarContextSize, 8) ?? DEFAULT_EXEMPLAR_CONTEXT_SIZE,
    strict: o.strict ?? false,
  };
}
