/**
 * Reading a network's exemplar index (exemplars/index.json, written by the build; format in
 * src/prototypes/exemplars.ts) so explanations can show each prototype's training patches.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXEMPLAR_INDEX_SCHEMA, EXEMPLAR_INDEX_VERSION, type ExemplarEntry, type ExemplarIndex } from '../builder/exemplars.ts';
import type { Network } from './artifact.ts';
import { InputError } from '../util/errors.ts';

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
    if (!Array.isArray(c.prototypes) || c.prototypes.length !== k) {
      throw new InputError(`${file}: class ${c.index} lists ${Array.isArray(c.prototypes) ? c.prototypes.length : 'no'} prototypes, the network has k = ${k}`);
    }
    byClass[c.index] = c.prototypes;
  }
  return { file, perPrototype: index.perPrototype, percentile: index.percentile, byClass };
}
