/**
 * A network's exemplar index: its format, writing it, and reading it so explanations can show each
 * prototype's training patches (the patches are chosen and drawn by the build, src/builder/exemplars.ts).
 *
 * Files (all paths in the index are relative to the network folder, POSIX separators):
 *   exemplars/index.json                   the index (ExemplarIndex)
 *   exemplars/c<class>/p<i>_<rank>.png       the patch
 *   exemplars/c<class>/p<i>_<rank>_context.png
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.ts';
import type { Box } from '../pictures/percentile.ts';
import { InputError } from '../util/errors.ts';
import type { Network } from './artifact.ts';

export const EXEMPLAR_INDEX_SCHEMA = 'protolens.exemplars';
export const EXEMPLAR_INDEX_VERSION = 1;
/** Folder of the exemplars inside a network folder, and the index file in it. */
export const EXEMPLARS_DIR = 'exemplars';
export const EXEMPLAR_INDEX_FILE = 'exemplars/index.json';

/** One exemplar patch. */
export interface ExemplarEntry {
  /** Dataset item id (the CUB image id, or the ImageFolder path relative to the root). */
  item: string;
  /** The source image, relative to the dataset root (POSIX separators). */
  image: string;
  /** max over positions of x p~_i on this image. */
  score: number;
  /** Feature-map position (row-major index into H x W) where the maximum is reached. */
  position: number;
  /** The patch in input pixels (the image as the model saw it, at the input size). */
  box: Box;
  /** The patch PNG, relative to the network folder. */
  crop: string;
  /** The context PNG (whole input image, box, faint heatmap), relative to the network folder. */
  context: string;
}

/** Exemplars of one class: one list per prototype, best first. */
export interface ClassExemplars {
  index: number;
  name: string;
  /** Training images scored (the images whose features were used). */
  images: number;
  prototypes: ExemplarEntry[][];
}

/** exemplars/index.json */
export interface ExemplarIndex {
  schema: typeof EXEMPLAR_INDEX_SCHEMA;
  schemaVersion: number;
  perPrototype: number;
  percentile: number;
  /** How scores and boxes are defined, for readers of the file. */
  definition: string;
  input: { height: number; width: number };
  featureMap: { height: number; width: number };
  classes: ClassExemplars[];
}

/** Write exemplars/index.json atomically. */
export async function writeExemplarIndex(dir: string, index: ExemplarIndex): Promise<void> {
  await writeJsonAtomic(join(dir, EXEMPLAR_INDEX_FILE), index);
}

/** The index's fixed fields. */
export function exemplarIndexHeader(perPrototype: number, percentile: number, input: { height: number; width: number }, featureMap: { height: number; width: number }): Omit<ExemplarIndex, 'classes'> {
  return {
    schema: EXEMPLAR_INDEX_SCHEMA,
    schemaVersion: EXEMPLAR_INDEX_VERSION,
    perPrototype,
    percentile,
    definition:
      'score = max over feature-map positions of x . p~_i (x: the image\'s features, p~_i: refined prototype i); ' +
      'top perPrototype images of the class by score, at most one per image, ties in dataset order; ' +
      `box = pixels >= the ${percentile}th percentile of the map upsampled bicubically (OpenCV INTER_CUBIC) to the input size`,
    input,
    featureMap,
  };
}

/** The exemplars of every prototype of every class: byClass[c][i] lists prototype i's patches, best first. */
export interface NetworkExemplars {
  /** The index file (absolute or as joined from the network folder). */
  file: string;
  perPrototype: number;
  percentile: number;
  byClass: ExemplarEntry[][][];
}

/**
 * Read and check the exemplar index of `net`, or null when the network was built without exemplars
 * (`manifest.exemplars` is null). Paths in the entries stay relative to the network folder.
 * @throws InputError naming the index file when it is missing, of another schema, or does not match
 *   the network's classes and k.
 */
export async function readNetworkExemplars(net: Network): Promise<NetworkExemplars | null> {
  const ref = net.manifest.exemplars;
  if (!ref) return null;
  const file = join(net.dir, ref.index);
  let index: ExemplarIndex;
  try {
    index = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: ${code === 'ENOENT' ? 'exemplar index not found (the manifest lists one; rebuild the network)' : `unreadable exemplar index (${(e as Error).message})`}`);
  }
  if (index?.schema !== EXEMPLAR_INDEX_SCHEMA) throw new InputError(`${file}: schema '${String(index?.schema)}' is not '${EXEMPLAR_INDEX_SCHEMA}'`);
  if (!(index.schemaVersion <= EXEMPLAR_INDEX_VERSION)) {
    throw new InputError(`${file}: schema version ${index.schemaVersion} is newer than this protolens reads (${EXEMPLAR_INDEX_VERSION})`);
  }
  const C = net.numClasses;
  const k = net.k;
  const byClass: ExemplarEntry[][][] = Array.from({ length: C }, () => Array.from({ length: k }, () => []));
  if (!Array.isArray(index.classes)) throw new InputError(`${file}: 'classes' must be a list`);
  for (const c of index.classes) {
    if (!Number.isInteger(c?.index) || c.index < 0 || c.index >= C) throw new InputError(`${file}: class index ${c?.index} is outside the network's ${C} classes`);
    const kc = net.prototypeCounts?.[c.index] ?? k;
    if (!Array.isArray(c.prototypes) || c.prototypes.length !== kc) {
      throw new InputError(`${file}: class ${c.index} lists ${Array.isArray(c.prototypes) ? c.prototypes.length : 'no'} prototypes, the network has ${kc === k ? `k = ${k}` : `${kc} for this class`}`);
    }
    byClass[c.index] = c.prototypes;
  }
  return { file, perPrototype: index.perPrototype, percentile: index.percentile, byClass };
}
