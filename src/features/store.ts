/**
 * The on-disk feature cache: one safetensors file per class holding that class's feature maps
 * (n x HW x D float32, position-major) and logits, keyed by everything that determines them (model
 * SHA-256, feature tensor, input size, preprocessing). Files are written atomically, so a killed
 * extraction leaves only whole classes; a class file is trusted only if its recorded image list is
 * the one requested, so a change of split or cap recomputes just what changed.
 */
import { createHash } from 'node:crypto';
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleTemporaries, writeJsonAtomic } from '../io/atomic.ts';
import { readSafetensors, readSafetensorsHeader, tensorOf, writeSafetensors } from '../io/safetensors.ts';
import { InputError } from '../util/errors.ts';

/**
 * Version of what a cached feature depends on besides the key's fields: the file format and the
 * decoding and resizing code. Bumped whenever they change the tensors (2: Pillow-exact resize), so
 * a cache never serves features computed from other pixels.
 */
export const FEATURE_CACHE_VERSION = 2;

/** Everything the cached numbers depend on. */
export interface FeatureCacheKey {
  modelSha256: string;
  featureTensor: string;
  /** Input geometry and normalisation, exactly as recorded by the preprocessing step. */
  preprocess: unknown;
  /** Feature-map geometry: positions per image (H x W) and channels. */
  H: number;
  W: number;
  D: number;
  numClasses: number;
}

/** One image's failure during extraction (decode or inference), kept for the run report. */
export interface ItemFailure {
  path: string;
  reason: string;
}

export interface ClassFeatures {
  classIndex: number;
  /** n x HW x D, rows grouped by image. */
  features: Float32Array;
  /** n x C logits of the original model for the same images. */
  logits: Float32Array;
  /** Image identifiers (dataset-relative paths) in row order. */
  items: string[];
  n: number;
  failures: ItemFailure[];
  /**
   * Per image, in row order: the image as the model saw it (input geometry), JPEG. Present when the
   * extraction kept them (a build that draws exemplars does); exemplars then need no second decode.
   */
  pictures?: Uint8Array[];
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A stable short hash of the cache key (key order does not matter). */
export function cacheKeyHash(key: FeatureCacheKey): string {
  return createHash('sha256').update(canonical({ v: FEATURE_CACHE_VERSION, ...key })).digest('hex').slice(0, 20);
}

/** Hash of a class's requested image list, to tell a stale class file from a valid one. */
export function itemsHash(items: readonly string[]): string {
  return createHash('sha256').update(items.join('\n')).digest('hex').slice(0, 20);
}

export class FeatureStore {
  private constructor(
    readonly dir: string,
    readonly key: FeatureCacheKey,
  ) {}

  /** Open (creating if needed) the cache folder for `key` under `root`. */
  static async open(root: string, key: FeatureCacheKey): Promise<FeatureStore> {
    const dir = join(root, cacheKeyHash(key));
    const store = new FeatureStore(dir, key);
    const metaPath = join(dir, 'key.json');
    try {
      const existing = JSON.parse(await readFile(metaPath, 'utf8'));
      if (canonical(existing.key) !== canonical(key)) throw new InputError(`${metaPath}: feature cache key differs from the requested one (hash collision?); delete ${dir}`);
    } catch (e) {
      if (e instanceof InputError) throw e;
      try {
        await writeJsonAtomic(metaPath, { version: FEATURE_CACHE_VERSION, key });
      } catch (w) {
        const why = w instanceof InputError ? w.message : `cannot write ${metaPath} (${(w as NodeJS.ErrnoException).code ?? (w as Error).message})`;
        throw new InputError(`feature cache ${root}: ${why}; --cache must be a folder protolens can write`);
      }
    }
    await removeStaleTemporaries(dir); // left by builds that were killed while writing a class
    return store;
  }

  classPath(classIndex: number): string {
    return join(this.dir, `class-${String(classIndex).padStart(5, '0')}.safetensors`);
  }

  /** True when a complete file for this class exists and was computed for exactly these images. */
  async has(classIndex: number, requestedItems: readonly string[]): Promise<boolean> {
    const p = this.classPath(classIndex);
    try {
      await access(p);
    } catch {
      return false;
    }
    try {
      const { metadata, tensors } = await readSafetensorsHeader(p);
      const f = tensors.features;
      const { size } = await stat(p);
      const expected = f ? f.shape.reduce((a, b) => a * b, 1) * 4 : -1;
      // header intact and data present (a file cut short by a crash is not trusted)
      if (!f || size < expected) return false;
      return metadata.requested === itemsHash(requestedItems);
    } catch {
      return false; // unreadable: recompute
    }
  }

  async write(cls: ClassFeatures, requestedItems: readonly string[]): Promise<void> {
    const { H, W, D, numClasses } = this.key;
    if (cls.features.length !== cls.n * H * W * D) throw new Error(`class ${cls.classIndex}: ${cls.features.length} feature values for ${cls.n} images of ${H}x${W}x${D}`);
    const tensors: Record<string, ReturnType<typeof tensorOf>> = { features: tensorOf(cls.features, [cls.n, H * W, D]), logits: tensorOf(cls.logits, [cls.n, numClasses]) };
    if (cls.pictures) {
      if (cls.pictures.length !== cls.n) throw new Error(`class ${cls.classIndex}: ${cls.pictures.length} pictures for ${cls.n} images`);
      const offsets = new Int32Array(cls.n + 1);
      cls.pictures.forEach((p, i) => (offsets[i + 1] = offsets[i] + p.length));
      const bytes = new Uint8Array(offsets[cls.n]);
      cls.pictures.forEach((p, i) => bytes.set(p, offsets[i]));
      tensors.pictures = tensorOf(bytes, [bytes.length]);
      tensors.picture_offsets = tensorOf(offsets, [cls.n + 1]);
    }
    await writeSafetensors(
      this.classPath(cls.classIndex),
      tensors,
      { requested: itemsHash(requestedItems), items: JSON.stringify(cls.items), failures: JSON.stringify(cls.failures), classIndex: String(cls.classIndex) },
    );
  }

  async read(classIndex: number): Promise<ClassFeatures> {
    const p = this.classPath(classIndex);
    const { tensors, metadata } = await readSafetensors(p);
    const f = tensors.features;
    if (!f || f.dtype !== 'F32' || f.shape[1] !== this.key.H * this.key.W || f.shape[2] !== this.key.D) {
      throw new InputError(`${p}: expected tensor 'features' of shape [n, ${this.key.H * this.key.W}, ${this.key.D}] float32`);
    }
    const n = f.shape[0];
    let pictures: Uint8Array[] | undefined;
    const bytes = tensors.pictures;
    const offsets = tensors.picture_offsets;
    if (bytes && offsets) {
      const o = offsets.data as Int32Array;
      const b = bytes.data as Uint8Array;
      if (offsets.dtype !== 'I32' || bytes.dtype !== 'U8' || o.length !== n + 1 || o[0] !== 0 || o[n] !== b.length) {
        throw new InputError(`${p}: tensors 'pictures' and 'picture_offsets' do not describe ${n} pictures; delete the file to recompute it`);
      }
      pictures = Array.from({ length: n }, (_, i) => b.subarray(o[i], o[i + 1]));
    }
    return {
      classIndex,
      features: f.data as Float32Array,
      logits: tensors.logits.data as Float32Array,
      items: JSON.parse(metadata.items ?? '[]'),
      n,
      failures: JSON.parse(metadata.failures ?? '[]'),
      ...(pictures ? { pictures } : {}),
    };
  }
}
