/**
 * Publishing a network folder atomically, and recognising one.
 *
 * A network is several entries (manifest.json, prototypes.safetensors, exemplars/) beside files that
 * are not ours (explanations a user saved inside the folder), so it cannot be swapped by one rename.
 * Publishing is therefore a roll-forward journal:
 *   1. the complete new network is written into a staging folder inside the network folder;
 *   2. the staging folder is renamed to `.publishing` (one atomic rename: from here on the new network
 *      is committed), with `entries.json` naming the entries it has;
 *   3. the old manifest is moved aside into `.replaced/` first (so no reader ever pairs an old manifest
 *      with new tensors), then each other entry: the old one aside, the new one in; the new manifest
 *      goes in last; `.replaced/` and `.publishing/` are removed.
 * A process killed anywhere in 3 leaves `.publishing/`; `finishPublish` completes it, and every
 * command that opens a network (`loadNetwork`) or builds into one calls it first. So at any instant
 * a network folder holds the old network, or the new one once finished. Killed before 2, the old
 * network is untouched and the staging folder is removed by the next build.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../util/errors.ts';
import { MANIFEST_FILE, NETWORK_SCHEMA, TENSORS_FILE } from './artifact.ts';
import { EXEMPLARS_DIR } from './exemplar-index.ts';

/** The committed new network while it is being moved into place. */
export const PUBLISH_DIR = '.publishing';
/** Where replaced entries wait for removal. */
export const REPLACED_DIR = '.replaced';
/** In PUBLISH_DIR: the entries the new network has. */
const ENTRIES_FILE = 'entries.json';
/**
 * The entries a network owns, in the order they are moved in (the manifest last). A function, not a
 * constant: artifact.ts and this module import each other, and the names are read only when called.
 */
export const networkEntries = (): readonly string[] => [EXEMPLARS_DIR, TENSORS_FILE, MANIFEST_FILE];

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/** Steps of `finishPublish`, for tests that stop it part-way as a killed process would. */
export type PublishStep = 'manifest-aside' | `moved ${string}` | 'cleaned';

/**
 * Complete a publish left in `dir` (no-op when there is none). Idempotent: it may itself be killed at
 * any point and run again.
 * @returns whether a publish was found and completed.
 */
export async function finishPublish(dir: string, onStep?: (step: PublishStep) => void): Promise<boolean> {
  const staged = join(dir, PUBLISH_DIR);
  if (!(await exists(staged))) return false;
  const aside = join(dir, REPLACED_DIR);
  let entries: string[];
  try {
    entries = JSON.parse(await readFile(join(staged, ENTRIES_FILE), 'utf8'));
    if (!Array.isArray(entries) || !entries.every((e) => networkEntries().includes(e))) throw new Error('unexpected content');
  } catch (e) {
    throw new InputError(`${staged}: an unfinished network publish whose ${ENTRIES_FILE} is unreadable (${(e as Error).message}); remove ${staged} to keep the previous network`);
  }
  await mkdir(aside, { recursive: true });
  const moveAside = async (name: string) => {
    if (!(await exists(join(dir, name)))) return;
    await rm(join(aside, name), { recursive: true, force: true });
    await rename(join(dir, name), join(aside, name));
  };
  // The old manifest goes first, unless the new one is already in place (a finished earlier attempt).
  if (await exists(join(staged, MANIFEST_FILE))) {
    await moveAside(MANIFEST_FILE);
    onStep?.('manifest-aside');
  }
  for (const name of networkEntries()) {
    const src = join(staged, name);
    if (await exists(src)) {
      if (name !== MANIFEST_FILE) await moveAside(name);
      await rename(src, join(dir, name));
      onStep?.(`moved ${name}`);
    } else if (!entries.includes(name)) {
      await moveAside(name); // the new network has none (e.g. built without exemplars)
    }
  }
  await rm(aside, { recursive: true, force: true });
  await rm(staged, { recursive: true, force: true });
  onStep?.('cleaned');
  return true;
}

/**
 * Commit the complete network in `staging` (a folder inside `dir`) and move it into place.
 * `staging` must hold manifest.json and the other entries the new network has.
 */
export async function publishStaged(dir: string, staging: string, onStep?: (step: PublishStep) => void): Promise<void> {
  const present: string[] = [];
  for (const name of networkEntries()) if (await exists(join(staging, name))) present.push(name);
  if (!present.includes(MANIFEST_FILE)) throw new Error(`publishStaged: ${staging} holds no ${MANIFEST_FILE}`);
  await writeFile(join(staging, ENTRIES_FILE), JSON.stringify(present));
  await rm(join(dir, PUBLISH_DIR), { recursive: true, force: true }); // only a finished or foreign leftover can be here
  await rename(staging, join(dir, PUBLISH_DIR));
  await finishPublish(dir, onStep);
}

/** What a folder is, for a command that would write a network into it. */
export type FolderKind = { kind: 'absent' } | { kind: 'empty' } | { kind: 'network' } | { kind: 'other'; reason: string };

/** Whether a manifest file's content is a protolens network manifest (by its schema, never by its name). */
async function isNetworkManifest(path: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { ok: false, reason: `${path} is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: `${path} is not JSON` };
  }
  const schema = typeof json === 'object' && json !== null ? (json as { schema?: unknown }).schema : undefined;
  return schema === NETWORK_SCHEMA ? { ok: true } : { ok: false, reason: `${path} is not a protolens network manifest (schema ${JSON.stringify(schema ?? null)}, expected '${NETWORK_SCHEMA}')` };
}

/**
 * Classify `dir`: absent, empty (hidden entries aside), a protolens network (its manifest.json, or
 * that of an unfinished publish, has the network schema), or anything else, with the reason.
 */
export async function classifyFolder(dir: string): Promise<FolderKind> {
  const st = await stat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? e.code : Promise.reject(e)));
  if (st === 'ENOTDIR') return { kind: 'other', reason: `${dir} cannot be a folder: a parent of it is a file, not a folder` };
  if (st === 'ENOENT') return { kind: 'absent' };
  if (!st.isDirectory()) return { kind: 'other', reason: `${dir} exists and is not a folder` };
  const all = await readdir(dir);
  const visible = all.filter((e) => !e.startsWith('.'));
  if (all.includes(PUBLISH_DIR) && (await isNetworkManifest(join(dir, PUBLISH_DIR, MANIFEST_FILE))).ok) return { kind: 'network' };
  if (visible.length === 0) return { kind: 'empty' };
  if (!visible.includes(MANIFEST_FILE)) return { kind: 'other', reason: `${dir} is not empty and holds no protolens network (no ${MANIFEST_FILE})` };
  const m = await isNetworkManifest(join(dir, MANIFEST_FILE));
  return m.ok ? { kind: 'network' } : { kind: 'other', reason: m.reason };
}
