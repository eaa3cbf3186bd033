/**
 * The network folder's life cycle during a build. The folder may be new, empty, or hold a previous
 * protolens network, recognised by its manifest's schema (a folder holding someone else's
 * manifest.json is refused, never overwritten). Everything the build writes goes to a staging folder
 * inside it; only when everything succeeded is the new network published, atomically
 * (network/publish.ts): a kill at any instant leaves the old network or, once finished by the next
 * command that opens the folder, the new one. Files the build does not own (e.g. explanations saved
 * inside the folder) are left alone; a previous network whose exemplars/ holds files its index does
 * not list is refused rather than have them replaced. A failed build removes its staging folder and
 * leaves a previous network untouched.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { saveNetwork, type NetworkManifest, type NetworkTensors } from '../network/artifact.ts';
import { EXEMPLAR_INDEX_FILE, EXEMPLARS_DIR, type ExemplarIndex } from '../network/exemplar-index.ts';
import { classifyFolder, finishPublish, publishStaged, REPLACED_DIR } from '../network/publish.ts';
import { makeDirs } from '../io/dirs.ts';
import { InputError } from '../util/errors.ts';
import { processAlive } from '../util/process.ts';

/** Every file below `dir`, relative to `root`, POSIX separators. */
async function filesBelow(dir: string, root: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await filesBelow(p, root, out);
    else out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

/** Files in a network's exemplars/ that its exemplar index does not list (not the build's to replace). */
async function foreignExemplarFiles(dir: string): Promise<string[]> {
  const exDir = join(dir, EXEMPLARS_DIR);
  const st = await stat(exDir).catch(() => null);
  if (!st) return [];
  if (!st.isDirectory()) return [EXEMPLARS_DIR];
  const owned = new Set<string>([EXEMPLAR_INDEX_FILE]);
  try {
    const index = JSON.parse(await readFile(join(dir, EXEMPLAR_INDEX_FILE), 'utf8')) as ExemplarIndex;
    for (const c of index.classes ?? []) for (const p of c.prototypes ?? []) for (const e of p ?? []) owned.add(e.crop).add(e.context);
  } catch {
    // no readable index: nothing in exemplars/ is known to be ours
  }
  return (await filesBelow(exDir, dir)).filter((f) => !owned.has(f));
}

export class OutputFolder {
  private constructor(
    readonly dir: string,
    /** Where the new network (exemplars, then tensors and manifest) is written during the build. */
    readonly staging: string,
    private readonly created: boolean,
  ) {}

  /**
   * Check `dir` may receive a network: absent, an empty folder (hidden entries are ignored), or a
   * protolens network folder whose exemplars/ holds only the files its index lists. Writes nothing.
   * Returns whether it exists.
   * @throws InputError otherwise, naming the folder and why.
   */
  static async check(dir: string): Promise<boolean> {
    const kind = await classifyFolder(dir).catch((e: NodeJS.ErrnoException) => {
      throw new InputError(`--out ${dir}: cannot be read (${e.code ?? e.message})`);
    });
    if (kind.kind === 'absent') return false;
    if (kind.kind === 'other') throw new InputError(`--out ${dir}: ${kind.reason}; choose a new or empty folder, or a protolens network to replace`);
    if (kind.kind === 'network') {
      const foreign = await foreignExemplarFiles(dir);
      if (foreign.length > 0) {
        throw new InputError(
          `--out ${dir}: the network's ${EXEMPLARS_DIR}/ holds ${foreign.length} file(s) its index does not list (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}); ` +
            `a rebuild replaces ${EXEMPLARS_DIR}/, so move them out first`,
        );
      }
    }
    return true;
  }

  /**
   * Check `dir` again (see `check`), create it if needed, complete a publish a killed build left,
   * remove staging folders of builds that were killed (their process is gone), and create this
   * build's staging folder.
   */
  static async prepare(dir: string): Promise<OutputFolder> {
    const created = !(await OutputFolder.check(dir));
    if (created) await makeDirs(dir);
    await finishPublish(dir);
    for (const e of await readdir(dir)) {
      const m = /^\.(?:building|old-exemplars)-(\d+)-[0-9a-f]+$/.exec(e);
      if (m && !processAlive(Number(m[1]))) await rm(join(dir, e), { recursive: true, force: true });
    }
    await rm(join(dir, REPLACED_DIR), { recursive: true, force: true }); // left only by a publish finished above
    const staging = join(dir, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging);
    return new OutputFolder(dir, staging, created);
  }

  /** Write the tensors and manifest beside the staged exemplars, then publish the whole network atomically. */
  async publish(manifest: NetworkManifest, tensors: NetworkTensors): Promise<void> {
    await saveNetwork(this.staging, manifest, tensors);
    await publishStaged(this.dir, this.staging);
  }

  /** After a failure: remove the staging folder, and the network folder if this build created it and it is empty. */
  async abandon(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    if (this.created) await rmdir(this.dir).catch(() => undefined);
  }
}

