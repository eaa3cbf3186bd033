/**
 * The network artifact: a folder any tool can read.
 *
 *   manifest.json            schema, model (path, SHA-256, tensors), geometry, preprocessing, class
 *                            names, k, every build option, per-class diagnostics, failures
 *   prototypes.safetensors   float32 tensors (C classes, k prototypes, D channels):
 *                              prototypes          [C, k, D]  refined prototypes p~ (sum over k = head row,
 *                                                             plus residual_term with allocator `none`)
 *                              initial_prototypes  [C, k, D]  NMF prototypes p
 *                              alpha               [C, k]     scaling coefficients
 *                              residual_term       [C, D]     zero unless allocator `none`
 *                              head_weight         [C, D]     the model's W (after folding)
 *                              bias                [C]        the model's b
 *                              prototype_count     [C] int32  prototypes of each class (k 'auto': the rows
 *                                                             beyond it are zero; absent in older files: k)
 *   exemplars/index.json     per class and prototype: the top training patches (see exemplar-index.ts)
 *
 * save → load returns bit-identical tensors; load checks shapes and the exact-sum invariant.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import { readSafetensors, tensorOf, writeSafetensors } from '../io/safetensors.ts';
import { CheckError, InputError } from '../util/errors.ts';
import { finishPublish } from './publish.ts';

export const NETWORK_SCHEMA = 'protolens.network';
export const NETWORK_SCHEMA_VERSION = 1;
export const TENSORS_FILE = 'prototypes.safetensors';
export const MANIFEST_FILE = 'manifest.json';

export interface ClassSummary {
  index: number;
  name: string;
  /** Training images whose features were used. */
  images: number;
  /** Images of the class that could not be used (decode or inference failure). */
  failed: number;
  diagnostics: Record<string, unknown>;
}

export interface NetworkManifest {
  schema: typeof NETWORK_SCHEMA;
  schemaVersion: number;
  generator: { name: 'protolens'; version: string };
  model: {
    /** Path to the ONNX file, relative to the network folder when it was given relative to it. */
    path: string;
    sha256: string;
    inputName: string;
    featureTensor: string;
    logitsOutput: string;
  };
  /** Model input size [H, W] and feature-map geometry. */
  input: { height: number; width: number };
  featureMap: { height: number; width: number; channels: number; nonNegative: boolean };
  /** The preprocessing every later step reproduces (serialised PreprocessConfig). */
  preprocess: unknown;
  dataset: { root: string; format: string; split: string; maxImagesPerClass: number | null };
  classNames: string[];
  k: number;
  /** Every option of the decomposition, resolved (preset, scaling, objective, allocator, ...). */
  options: Record<string, unknown>;
  seed: number;
  classes: ClassSummary[];
  failures: { path: string; reason: string }[];
  exemplars: { perPrototype: number; percentile: number; index: string } | null;
  tensors: string;
}

export interface NetworkTensors {
  /** C x k x D */
  prototypes: Float32Array;
  /** C x k x D */
  initialPrototypes: Float32Array;
  /** C x k */
  alpha: Float32Array;
  /** C x D */
  residualTerm: Float32Array;
  /** C x D */
  headWeight: Float32Array;
  /** C */
  bias: Float32Array;
  /** C: prototypes of each class (k for a fixed k; with k 'auto', rows beyond it are zero). */
  prototypeCounts?: Int32Array;
}

export interface Network extends NetworkTensors {
  dir: string;
  manifest: NetworkManifest;
  numClasses: number;
  /** Prototype rows per class in the tensors: the largest class's k. */
  k: number;
  channels: number;
  /** Prototypes of each class (C); class c's are rows 0 .. prototypeCounts[c] - 1. */
  prototypeCounts: Int32Array;
}

/** Class c's prototype count (k for a network whose classes all have k). */
export function prototypeCount(net: Pick<Network, 'prototypeCounts' | 'k'>, c: number): number {
  return net.prototypeCounts[c] ?? net.k;
}

/** The prototype counts of tensors, filled with k where the tensors carry none. */
export function countsOf(t: Pick<NetworkTensors, 'prototypeCounts'>, C: number, k: number): Int32Array {
  return t.prototypeCounts ?? new Int32Array(C).fill(k);
}

/**
 * SHA-256 of the network's prototypes.safetensors (its numbers); the manifest's JSON when the file
 * cannot be read (a network given as an object). Settings keys of sharded runs include it.
 */
export async function prototypesDigest(net: Network): Promise<string> {
  const bytes = await readFile(join(net.dir, TENSORS_FILE)).catch(() => null);
  return createHash('sha256').update(bytes ?? JSON.stringify(net.manifest)).digest('hex');
}

/** Write manifest and tensors atomically (tensors first: a manifest always points at whole tensors). */
export async function saveNetwork(dir: string, manifest: NetworkManifest, t: NetworkTensors): Promise<void> {
  const C = manifest.classNames.length;
  const k = manifest.k;
  const D = manifest.featureMap.channels;
  await writeSafetensors(
    join(dir, TENSORS_FILE),
    {
      prototypes: tensorOf(t.prototypes, [C, k, D]),
      initial_prototypes: tensorOf(t.initialPrototypes, [C, k, D]),
      alpha: tensorOf(t.alpha, [C, k]),
      residual_term: tensorOf(t.residualTerm, [C, D]),
      head_weight: tensorOf(t.headWeight, [C, D]),
      bias: tensorOf(t.bias, [C]),
      prototype_count: tensorOf(countsOf(t, C, k), [C]),
    },
    { schema: NETWORK_SCHEMA, schemaVersion: String(NETWORK_SCHEMA_VERSION), modelSha256: manifest.model.sha256 },
  );
  await writeJsonAtomic(join(dir, MANIFEST_FILE), manifest);
}

/**
 * Largest |sum_k p~_ck + residual_c - W_c| over classes, relative to max |W_c| per class
 * (float64 accumulation of the stored float32 values).
 */
export function exactSumError(t: NetworkTensors, C: number, k: number, D: number): { worstClass: number; relError: number } {
  let worst = { worstClass: -1, relError: 0 };
  for (let c = 0; c < C; c++) {
    let maxW = 0;
    let maxErr = 0;
    for (let j = 0; j < D; j++) {
      let s = t.residualTerm[c * D + j];
      for (let i = 0; i < k; i++) s += t.prototypes[(c * k + i) * D + j];
      const w = t.headWeight[c * D + j];
      maxW = Math.max(maxW, Math.abs(w));
      maxErr = Math.max(maxErr, Math.abs(s - w));
    }
    const rel = maxErr / Math.max(maxW, 1e-30);
    if (Number.isNaN(rel) || rel > worst.relError) worst = { worstClass: c, relError: rel };
    if (Number.isNaN(rel)) break; // NaN is the worst there is
  }
  return worst;
}

/** The manifest fields loading relies on, checked so a damaged manifest is named, not a crash. */
function checkManifestShape(m: NetworkManifest, mPath: string): void {
  const fail = (what: string, got: unknown) => {
    throw new InputError(`${mPath}: ${what}, got ${JSON.stringify(got) ?? String(got)}`);
  };
  if (typeof m.schemaVersion !== 'number' || !Number.isInteger(m.schemaVersion) || m.schemaVersion < 1) fail("'schemaVersion' must be a positive integer", m.schemaVersion);
  if (!Array.isArray(m.classNames) || m.classNames.length === 0 || !m.classNames.every((n) => typeof n === 'string')) fail("'classNames' must be a non-empty list of strings", m.classNames);
  if (typeof m.k !== 'number' || !Number.isInteger(m.k) || m.k < 1) fail("'k' must be a positive integer", m.k);
  const fm = m.featureMap as Partial<NetworkManifest['featureMap']> | undefined;
  if (typeof fm !== 'object' || fm === null) fail("'featureMap' must be an object", fm);
  for (const key of ['height', 'width', 'channels'] as const) {
    const v = fm![key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`'featureMap.${key}' must be a positive integer`, v);
  }
  if (typeof m.model !== 'object' || m.model === null || typeof m.model.path !== 'string' || typeof m.model.sha256 !== 'string') fail("'model' must name the model's path and sha256", m.model);
  if (typeof m.input !== 'object' || m.input === null || !Number.isInteger(m.input.height) || !Number.isInteger(m.input.width)) fail("'input' must give the input's height and width", m.input);
  if (!Array.isArray(m.classes)) fail("'classes' must be the list of per-class summaries", m.classes);
  if (m.tensors !== undefined && typeof m.tensors !== 'string') fail("'tensors' must be a file name", m.tensors);
}

/**
 * Load a network folder, completing first a publish a killed build left unfinished (publish.ts);
 * errors name the file and what was expected.
 */
export async function loadNetwork(dir: string): Promise<Network> {
  const mPath = join(dir, MANIFEST_FILE);
  try {
    await finishPublish(dir);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${dir}: a build's publish of a new network was interrupted and cannot be completed here (${(e as Error).message}); rerun 'protolens build' with write access to the folder`);
  }
  let manifest: NetworkManifest;
  try {
    manifest = JSON.parse(await readFile(mPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? `${dir}: not a protolens network folder (no ${MANIFEST_FILE}; build one with 'protolens build')` : `${mPath}: unreadable manifest (${(e as Error).message})`);
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) throw new InputError(`${mPath}: expected a JSON object, got ${JSON.stringify(manifest)}`);
  if (manifest.schema !== NETWORK_SCHEMA) throw new InputError(`${mPath}: schema '${String(manifest.schema)}' is not '${NETWORK_SCHEMA}'`);
  if (manifest.schemaVersion > NETWORK_SCHEMA_VERSION) {
    throw new InputError(`${mPath}: schema version ${manifest.schemaVersion} is newer than this protolens reads (${NETWORK_SCHEMA_VERSION}); upgrade protolens`);
  }
  checkManifestShape(manifest, mPath);
  const C = manifest.classNames.length;
  const k = manifest.k;
  const D = manifest.featureMap.channels;
  const tPath = join(dir, manifest.tensors ?? TENSORS_FILE);
  const { tensors } = await readSafetensors(tPath);
  const want: Record<string, number[]> = {
    prototypes: [C, k, D],
    initial_prototypes: [C, k, D],
    alpha: [C, k],
    residual_term: [C, D],
    head_weight: [C, D],
    bias: [C],
  };
  for (const [name, shape] of Object.entries(want)) {
    const t = tensors[name];
    if (!t || t.dtype !== 'F32' || t.shape.join(',') !== shape.join(',')) {
      throw new InputError(`${tPath}: expected tensor '${name}' float32 [${shape.join(', ')}], found ${t ? `${t.dtype} [${t.shape.join(', ')}]` : 'none'}`);
    }
  }
  const net: Network = {
    dir,
    manifest,
    numClasses: C,
    k,
    channels: D,
    prototypes: tensors.prototypes.data as Float32Array,
    initialPrototypes: tensors.initial_prototypes.data as Float32Array,
    alpha: tensors.alpha.data as Float32Array,
    residualTerm: tensors.residual_term.data as Float32Array,
    headWeight: tensors.head_weight.data as Float32Array,
    bias: tensors.bias.data as Float32Array,
    prototypeCounts: new Int32Array(C).fill(k),
  };
  const counts = tensors.prototype_count;
  if (counts !== undefined) {
    if (counts.dtype !== 'I32' || counts.shape.join(',') !== String(C)) throw new InputError(`${tPath}: expected tensor 'prototype_count' int32 [${C}], found ${counts.dtype} [${counts.shape.join(', ')}]`);
    const data = counts.data as Int32Array;
    for (let c = 0; c < C; c++) {
      if (!(data[c] >= 1 && data[c] <= k)) throw new InputError(`${tPath}: tensor 'prototype_count' gives class ${c} ('${manifest.classNames[c]}') ${data[c]} prototypes, expected 1 to k = ${k}`);
      for (let x = (c * k + data[c]) * D; x < (c + 1) * k * D; x++) {
        if (net.prototypes[x] !== 0) throw new InputError(`${tPath}: class ${c} ('${manifest.classNames[c]}') has ${data[c]} prototypes but a non-zero value in prototype row ${Math.floor(x / D) - c * k}`);
      }
    }
    net.prototypeCounts = data;
  }
  for (const name of Object.keys(want)) {
    const data = tensors[name].data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        const shape = want[name];
        const idx = shape.map((_, a) => Math.floor(i / shape.slice(a + 1).reduce((x, y) => x * y, 1)) % shape[a]);
        throw new CheckError(`${tPath}: tensor '${name}' holds ${data[i]} at [${idx.join(', ')}] (class '${manifest.classNames[idx[0]]}'); every value must be finite`);
      }
    }
  }
  const { worstClass, relError } = exactSumError(net, C, k, D);
  if (!(relError <= 1e-6)) {
    throw new CheckError(`${tPath}: prototypes of class ${worstClass} ('${manifest.classNames[worstClass]}') do not sum to its head vector (relative error ${relError.toExponential(2)} > 1e-6)`);
  }
  return net;
}
