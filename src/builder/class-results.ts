/**
 * The per-class results cache: for every class, what the build computes from its cached features
 * (the decomposition and the exemplar pictures), one safetensors file per class, written atomically.
 * It lives beside the features it was computed from:
 *
 *   <cache>/<feature key hash>/results/<result key hash>/key.json
 *   <cache>/<feature key hash>/results/<result key hash>/class-<c>.safetensors
 *
 * The result key is everything besides the features that the numbers and pictures depend on (the
 * resolved decomposition options, the exemplar settings, the protolens version). A class file is
 * trusted only when it was computed from the class's current image list (the same hash the feature
 * file records). So a build killed during decomposition resumes at the first unfinished class, shards
 * on several machines fill one cache, and a network is assembled from these files alone.
 *
 * Class file: tensors `prototypes` (k x D f32), `initial_prototypes` (k x D f32), `alpha` (k f64),
 * `residual_term` (D f32, allocator none only), `exemplar_pictures` (u8) and `exemplar_offsets`
 * (i32, files + 1) when exemplars were drawn; metadata `requested`, `classIndex`, `summary` (JSON:
 * images, failed, diagnostics), `failures` (JSON), `exemplars` (JSON: the class's exemplar index
 * entry, the pictures in its order, crop then context).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleTemporaries, writeJsonAtomic } from '../io/atomic.ts';
import { readSafetensors, readSafetensorsHeader, tensorOf, writeSafetensors, type Tensor } from '../io/safetensors.ts';
import { canonical, itemsHash, type ItemFailure } from '../features/store.ts';
import type { ClassExemplars } from '../network/exemplar-index.ts';
import { InputError } from '../util/errors.ts';
import type { ExemplarFile } from './exemplars.ts';

/** Version of the class file's layout and meaning. */
export const RESULT_CACHE_VERSION = 1;
/** Folder of the results inside a feature cache folder. */
export const RESULTS_DIR = 'results';

/** One class's finished result. */
export interface ClassResult {
  classIndex: number;
  /** Images whose features were used, and images skipped (undecodable). */
  images: number;
  failed: number;
  failures: ItemFailure[];
  /** The class's diagnostics as the manifest records them. */
  diagnostics: Record<string, unknown>;
  prototypes: Float32Array;
  initialPrototypes: Float32Array;
  alpha: Float64Array;
  residualTerm: Float32Array | null;
  /** Exemplar index entry and pictures; null when the build draws no exemplars. */
  exemplars: { entry: ClassExemplars; files: ExemplarFile[] } | null;
}

export class ResultStore {
  private constructor(
    /** The folder holding key.json and the class files. */
    readonly dir: string,
    readonly key: unknown,
  ) {}

  /** Open (creating if needed) the results folder for `key` inside the feature cache folder `featureDir`. */
  static async open(featureDir: string, key: unknown): Promise<ResultStore> {
    const hash = createHash('sha256').update(canonical({ v: RESULT_CACHE_VERSION, key })).digest('hex').slice(0, 20);
    const dir = join(featureDir, RESULTS_DIR, hash);
    const metaPath = join(dir, 'key.json');
    let existing: { key?: unknown } | null = null;
    try {
      existing = JSON.parse(await readFile(metaPath, 'utf8'));
    } catch {
      await writeJsonAtomic(metaPath, { version: RESULT_CACHE_VERSION, key });
    }
    if (existing && canonical(existing.key) !== canonical(key)) throw new InputError(`${metaPath}: result cache key differs from the requested one (hash collision?); delete ${dir}`);
    await removeStaleTemporaries(dir);
    return new ResultStore(dir, key);
  }

  classPath(classIndex: number): string {
    return join(this.dir, `class-${String(classIndex).padStart(5, '0')}.safetensors`);
  }

  /** True when a complete result for this class exists and was computed from exactly these images. */
  async has(classIndex: number, requestedItems: readonly string[]): Promise<boolean> {
    const p = this.classPath(classIndex);
    try {
      const { metadata, tensors } = await readSafetensorsHeader(p);
      const { size } = await stat(p);
      let bytes = 0;
      for (const t of Object.values(tensors)) bytes += t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F64' ? 8 : t.dtype === 'U8' ? 1 : 4);
      return size >= bytes && metadata.requested === itemsHash(requestedItems);
    } catch {
      return false; // absent, cut short or unreadable: recompute
    }
  }

  async write(r: ClassResult, requestedItems: readonly string[]): Promise<void> {
    const tensors: Record<string, Tensor> = {
      prototypes: tensorOf(r.prototypes, [r.alpha.length, r.prototypes.length / Math.max(1, r.alpha.length)]),
      initial_prototypes: tensorOf(r.initialPrototypes, [r.alpha.length, r.initialPrototypes.length / Math.max(1, r.alpha.length)]),
      alpha: tensorOf(r.alpha, [r.alpha.length]),
    };
    if (r.residualTerm) tensors.residual_term = tensorOf(r.residualTerm, [r.residualTerm.length]);
    const metadata: Record<string, string> = {
      requested: itemsHash(requestedItems),
      classIndex: String(r.classIndex),
      summary: JSON.stringify({ images: r.images, failed: r.failed, diagnostics: r.diagnostics }),
      failures: JSON.stringify(r.failures),
    };
    if (r.exemplars) {
      const files = r.exemplars.files;
      const offsets = new Int32Array(files.length + 1);
      files.forEach((f, i) => (offsets[i + 1] = offsets[i] + f.bytes.length));
      const bytes = new Uint8Array(offsets[files.length]);
      files.forEach((f, i) => bytes.set(f.bytes, offsets[i]));
      tensors.exemplar_pictures = tensorOf(bytes, [bytes.length]);
      tensors.exemplar_offsets = tensorOf(offsets, [offsets.length]);
      metadata.exemplars = JSON.stringify({ entry: r.exemplars.entry, paths: files.map((f) => f.path) });
    }
    await writeSafetensors(this.classPath(r.classIndex), tensors, metadata);
  }

  /** What a class's file says about its images and warnings, from its header alone (no tensors read). */
  async summary(classIndex: number): Promise<{ images: number; failures: ItemFailure[]; warnings: string[]; prototypes: number }> {
    const p = this.classPath(classIndex);
    const { metadata, tensors } = await readSafetensorsHeader(p);
    try {
      const summary = JSON.parse(metadata.summary) as { images: number; diagnostics: { warnings?: string[] } };
      const prototypes = tensors.alpha?.shape[0];
      if (typeof prototypes !== 'number') throw new Error('no alpha');
      return { images: summary.images, failures: JSON.parse(metadata.failures), warnings: summary.diagnostics.warnings ?? [], prototypes };
    } catch {
      throw new InputError(`${p}: unreadable metadata 'summary' or 'failures'; delete the file to recompute the class`);
    }
  }

  async read(classIndex: number): Promise<ClassResult> {
    const p = this.classPath(classIndex);
    const { tensors, metadata } = await readSafetensors(p);
    const bad = (what: string) => new InputError(`${p}: ${what}; delete the file to recompute the class`);
    const f32 = (name: string) => {
      const t = tensors[name];
      if (!t || t.dtype !== 'F32') throw bad(`expected float32 tensor '${name}'`);
      return t.data as Float32Array;
    };
    if (tensors.alpha?.dtype !== 'F64') throw bad("expected float64 tensor 'alpha'");
    let summary: { images: number; failed: number; diagnostics: Record<string, unknown> };
    let failures: ItemFailure[];
    try {
      summary = JSON.parse(metadata.summary);
      failures = JSON.parse(metadata.failures);
    } catch {
      throw bad("unreadable metadata 'summary' or 'failures'");
    }
    let exemplars: ClassResult['exemplars'] = null;
    if (metadata.exemplars !== undefined) {
      const { entry, paths } = JSON.parse(metadata.exemplars) as { entry: ClassExemplars; paths: string[] };
      const o = tensors.exemplar_offsets?.data as Int32Array | undefined;
      const b = tensors.exemplar_pictures?.data as Uint8Array | undefined;
      if (!o || !b || tensors.exemplar_offsets.dtype !== 'I32' || o.length !== paths.length + 1 || o[0] !== 0 || o[paths.length] !== b.length) {
        throw bad(`tensors 'exemplar_pictures' and 'exemplar_offsets' do not describe ${paths.length} pictures`);
      }
      exemplars = { entry, files: paths.map((path, i) => ({ path, bytes: b.subarray(o[i], o[i + 1]) })) };
    }
    return {
      classIndex,
      images: summary.images,
      failed: summary.failed,
      failures,
      diagnostics: summary.diagnostics,
      prototypes: f32('prototypes'),
      initialPrototypes: f32('initial_prototypes'),
      alpha: tensors.alpha.data as Float64Array,
      residualTerm: tensors.residual_term ? f32('residual_term') : null,
      exemplars,
    };
  }
}
