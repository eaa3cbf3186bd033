/**
 * The demo model's record (models/demo-cnn.json, written by the training script): the class names,
 * the exact preprocessing the model was trained with, the dataset parameters it was trained on and
 * its own measured accuracy. The demo builds with exactly this preprocessing and regenerates exactly
 * this dataset.
 */
import { readFile } from 'node:fs/promises';
import { validatePreprocessConfig, type PreprocessConfig } from '../data/preprocess-config.ts';
import type { PartsDatasetOptions } from '../data/synthetic/generate.ts';
import { InputError } from '../util/errors.ts';

/** What the demo reads from the record. */
export interface DemoModelRecord {
  /** The record file. */
  file: string;
  /** Display name ("protolens demo CNN"). */
  name: string;
  /** SHA-256 of the model file as recorded. */
  sha256: string;
  classNames: string[];
  /** The full preprocessing (validated). */
  preprocess: PreprocessConfig;
  /** Generator version the model was trained on. */
  generatorVersion: string;
  /** Dataset parameters the model was trained on (every one that defines the images). */
  datasetParams: Omit<PartsDatasetOptions, 'dir' | 'concurrency' | 'force'>;
  /** Test accuracy the training script measured with onnxruntime (null when not recorded). */
  onnxTestAccuracy: number | null;
  /** Parameters and multiply-adds per image, when recorded. */
  parameters: number | null;
  forwardMacs: number | null;
  /** Short architecture text, e.g. "5 conv blocks (16-32-64-128-128), GAP, linear". */
  architecture: string | null;
}

const DATASET_PARAM_KEYS = ['seed', 'attributeSeed', 'classes', 'trainPerClass', 'testPerClass', 'size', 'jpegQuality', 'rotationDeg', 'flipProbability', 'bboxFraction', 'occlusionRate', 'noiseSigma', 'clutter'] as const;

function obj(v: unknown, file: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(`${file}: '${field}' must be an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function str(v: unknown, file: string, field: string): string {
  if (typeof v !== 'string' || v === '') throw new InputError(`${file}: '${field}' must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Read and check a demo model record.
 * @throws InputError naming the file and the field that is missing or malformed.
 */
export async function readDemoModelRecord(file: string): Promise<DemoModelRecord> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT'
        ? `model record ${file} not found: the demo needs the model's training record beside it (models/demo-cnn.json, written by tools/train-demo-model.ts)`
        : `model record ${file}: not valid JSON (${(e as Error).message})`,
    );
  }
  const r = obj(raw, file, '(top level)');
  const model = obj(r.model, file, 'model');
  const sha256 = str(model.sha256, file, 'model.sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new InputError(`${file}: 'model.sha256' must be 64 lowercase hex digits, got '${sha256}'`);
  const classNames = r.classNames;
  if (!Array.isArray(classNames) || classNames.length === 0 || classNames.some((c) => typeof c !== 'string')) {
    throw new InputError(`${file}: 'classNames' must be a non-empty array of strings`);
  }
  const preprocess = validatePreprocessConfig(r.preprocess, `${file} (preprocess)`);
  const dataset = obj(r.dataset, file, 'dataset');
  const params = obj(dataset.params, file, 'dataset.params');
  const datasetParams: Record<string, unknown> = {};
  for (const key of DATASET_PARAM_KEYS) {
    if (!(key in params)) throw new InputError(`${file}: 'dataset.params.${key}' is missing (the demo regenerates the dataset the model was trained on)`);
    datasetParams[key] = params[key];
  }
  if (datasetParams.classes !== classNames.length) {
    throw new InputError(`${file}: 'dataset.params.classes' is ${JSON.stringify(datasetParams.classes)} but 'classNames' lists ${classNames.length} classes`);
  }
  const evaluation = (r.evaluation ?? {}) as Record<string, unknown>;
  const arch = (r.architecture ?? {}) as Record<string, unknown>;
  const blocks = Array.isArray(arch.blocks) ? (arch.blocks as { filters?: unknown }[]).map((b) => b.filters).filter((f): f is number => typeof f === 'number') : [];
  return {
    file,
    name: typeof r.name === 'string' ? r.name : 'demo model',
    sha256,
    classNames: classNames as string[],
    preprocess,
    generatorVersion: str(dataset.generatorVersion, file, 'dataset.generatorVersion'),
    datasetParams: datasetParams as DemoModelRecord['datasetParams'],
    onnxTestAccuracy: numOrNull(evaluation.onnxTestAccuracy),
    parameters: numOrNull(arch.parameters),
    forwardMacs: numOrNull(arch.forwardMacs),
    architecture: blocks.length > 0 ? `${blocks.length} conv blocks (${blocks.join('-')} channels), global average pooling, linear` : null,
  };
}
