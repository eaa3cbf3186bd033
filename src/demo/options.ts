/**
 * Options of `runDemo` (the newcomer's first command), their defaults and validation. Every default
 * is chosen so that `npm run demo` shows the whole method on the bundled parts dataset in a few
 * minutes on a small machine; docs/demo.md lists them with the measured times.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PartsDatasetOptions } from '../data/synthetic/generate.ts';
import type { Preset } from '../prototypes/options.ts';
import { InputError } from '../util/errors.ts';
import { checkedChoice, checkedInteger, optional } from '../util/options.ts';

/** The committed demo model, found from this module's location (the same in src/ and dist/). */
export const DEFAULT_DEMO_MODEL = fileURLToPath(new URL('../../models/demo-cnn.onnx', import.meta.url));
/** Output folder of the page and everything it shows. */
export const DEFAULT_DEMO_OUT = 'demo-output';
/** Cache folder: the generated dataset and the feature cache. */
export const DEFAULT_DEMO_CACHE = '.cache/demo';
/** Prototypes per class (the paper's figures show 3). */
export const DEFAULT_DEMO_K = 3;
/** Classes whose first test image is explained. */
export const DEFAULT_EXPLAINED_CLASSES = 6;
/** Exemplar patches per prototype drawn by the build (the gallery shows all of them). */
export const DEFAULT_DEMO_EXEMPLARS = 5;
/** Seed of the decomposition and of the evaluation. */
export const DEFAULT_DEMO_SEED = 0;

/** Dataset parameters the demo lets a caller change (the rest come from the model's record). */
export type DemoDatasetOverrides = Pick<PartsDatasetOptions, 'trainPerClass' | 'testPerClass' | 'concurrency'>;

export interface DemoOptions {
  /** Output folder (default 'demo-output'): index.html, network/, explanations/, evaluation/, summary.json. */
  outDir?: string;
  /** Cache folder (default '.cache/demo'): dataset/ and features/. Safe to delete. */
  cacheDir?: string;
  /** The ONNX model (default: models/demo-cnn.onnx); its record is the .json beside it. */
  model?: string;
  /** Model record (default: the model path with .json instead of .onnx). */
  record?: string;
  /** Prototypes per class (default 3). */
  k?: number;
  /** Decomposition preset (default 'default'). */
  preset?: Preset;
  /** Seed of the decomposition and the evaluation (default 0). */
  seed?: number;
  /** Exemplar patches per prototype (default 5, at least 1: the gallery shows them). */
  exemplars?: number;
  /** Build from at most this many training images per class (default: all). */
  maxImagesPerClass?: number;
  /** Explain the first test image of this many classes (default 6; 0 explains none but the misclassified one). */
  explainClasses?: number;
  /** Also explain the first misclassified test image, if any (default true). */
  explainMisclassified?: boolean;
  /** Run the evaluation when the evaluation module is present (default true). */
  evaluate?: boolean;
  /** Run the model-randomisation sanity check after the evaluation (default true; needs the evaluation). */
  sanity?: boolean;
  /** Evaluate at most this many test images, evenly spaced (default: all). */
  evaluationMaxImages?: number;
  /** Images scored by deletion/insertion (default: the evaluation's own, 50). */
  deletionImages?: number;
  /** Decomposition worker threads (default: the build's, one per core). */
  threads?: number;
  /** Dataset size changes (fewer images per class: the same generator, classes and model; other numbers). */
  dataset?: DemoDatasetOverrides;
  /** The command shown on the page as how it was made (default 'npm run demo'). */
  command?: string;
}

export interface ResolvedDemoOptions {
  outDir: string;
  cacheDir: string;
  model: string;
  record: string;
  k: number;
  preset: Preset;
  seed: number;
  exemplars: number;
  maxImagesPerClass: number | null;
  explainClasses: number;
  explainMisclassified: boolean;
  evaluate: boolean;
  sanity: boolean;
  evaluationMaxImages: number | null;
  deletionImages: number | null;
  threads: number | null;
  dataset: DemoDatasetOverrides;
  command: string;
}

function intOpt(name: string, v: unknown, min: number, fallback: number): number;
function intOpt(name: string, v: unknown, min: number, fallback: null): number | null;
function intOpt(name: string, v: unknown, min: number, fallback: number | null): number | null {
  return optional(v, fallback, (x) => checkedInteger(`demo option ${name}`, x, min));
}

/** Validate and fill defaults. Paths are made absolute. Throws InputError naming the option. */
export function resolveDemoOptions(o: DemoOptions = {}): ResolvedDemoOptions {
  for (const key of ['outDir', 'cacheDir', 'model', 'record'] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'string' || v === '')) throw new InputError(`demo option ${key}: expected a path, got ${JSON.stringify(v)}`);
  }
  const model = resolve(o.model ?? DEFAULT_DEMO_MODEL);
  const preset = optional(o.preset, 'default' as const, (x) => checkedChoice('demo option preset', x, ['default', 'paper'] as const));
  const seed = optional(o.seed, DEFAULT_DEMO_SEED, (x) => checkedInteger('demo option seed', x, 0, 0xffffffff));
  const ds = o.dataset ?? {};
  for (const key of Object.keys(ds)) {
    if (!['trainPerClass', 'testPerClass', 'concurrency'].includes(key)) throw new InputError(`demo option dataset.${key}: not a dataset setting the demo changes (trainPerClass, testPerClass, concurrency)`);
  }
  return {
    outDir: resolve(o.outDir ?? DEFAULT_DEMO_OUT),
    cacheDir: resolve(o.cacheDir ?? DEFAULT_DEMO_CACHE),
    model,
    record: resolve(o.record ?? model.replace(/\.onnx$/i, '') + '.json'),
    k: intOpt('k', o.k, 1, DEFAULT_DEMO_K),
    preset,
    seed,
    exemplars: intOpt('exemplars', o.exemplars, 1, DEFAULT_DEMO_EXEMPLARS),
    maxImagesPerClass: intOpt('maxImagesPerClass', o.maxImagesPerClass, 1, null),
    explainClasses: intOpt('explainClasses', o.explainClasses, 0, DEFAULT_EXPLAINED_CLASSES),
    explainMisclassified: o.explainMisclassified ?? true,
    evaluate: o.evaluate ?? true,
    sanity: o.sanity ?? true,
    evaluationMaxImages: intOpt('evaluationMaxImages', o.evaluationMaxImages, 1, null),
    deletionImages: intOpt('deletionImages', o.deletionImages, 1, null),
    threads: intOpt('threads', o.threads, 1, null),
    dataset: { ...ds },
    command: typeof o.command === 'string' && o.command !== '' ? o.command : 'npm run demo',
  };
}
