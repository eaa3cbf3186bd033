/**
 * ImageFolder datasets: root/<class>/<images>, recursively within each class folder, as torchvision's
 * ImageFolder lists them (directories walked in sorted path order, files sorted within each), but with
 * hidden entries ignored. Only counts are kept in memory; a class's files are listed when asked for.
 */
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../util/errors.ts';
import { MAX_IGNORED_LISTED, checkClassIndex, describeDataset, type Dataset, type DatasetDescription } from './dataset.ts';
import { compareCodePoints, isHidden, isImageName, sortCodePoints } from './order.ts';
import type { IgnoredFile, ImageItem } from './types.ts';

export interface ImageFolderOptions {
  /** Classes in model output order: an array of folder names, or the path of a file with one per line. */
  classList?: string[] | string;
  /** Accept class folders without images (default false: an InputError naming them). */
  allowEmptyClasses?: boolean;
}

/** Read a class list file: one name per line; blank lines ignored; surrounding whitespace trimmed. */
export async function readClassList(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new InputError(`class list ${path}: cannot read (${(e as Error).message})`);
  }
  const names: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const name = raw.trim();
    if (!name) return;
    if (seen.has(name)) throw new InputError(`class list ${path} line ${i + 1}: '${name}' repeats line ${seen.get(name)}`);
    seen.set(name, i + 1);
    names.push(name);
  });
  if (names.length === 0) throw new InputError(`class list ${path}: no class names`);
  return names;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * All image files under `dir`, in torchvision's order: directories (this one and every
 * descendant) sorted by path, files sorted by name within each. Hidden entries are skipped,
 * symbolic links followed (each real directory visited once).
 */
async function walkClass(dir: string, onIgnored: (f: IgnoredFile) => void): Promise<string[]> {
  const dirs: { rel: string; files: string[] }[] = [];
  const seen = new Set<string>();
  const visit = async (abs: string, rel: string): Promise<void> => {
    let real: string;
    let entries: Dirent[];
    try {
      real = await realpath(abs);
      if (seen.has(real)) return;
      entries = await readdir(abs, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new InputError(`dataset folder ${abs} cannot be read (${code}); its images would be left out unseen, so make it readable or move it out of the dataset`);
    }
    seen.add(real);
    const files: string[] = [];
    for (const e of entries) {
      if (isHidden(e.name)) continue;
      const p = join(abs, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const s = await stat(p);
          isDir = s.isDirectory();
          isFile = s.isFile();
        } catch {
          onIgnored({ path: p, reason: 'broken symbolic link' });
          continue;
        }
      }
      if (isDir) await visit(p, rel ? `${rel}/${e.name}` : e.name);
      else if (isFile && isImageName(e.name)) files.push(e.name);
      else onIgnored({ path: p, reason: isFile ? 'not an image file name' : 'not a regular file' });
    }
    dirs.push({ rel, files: sortCodePoints(files) });
  };
  await visit(dir, '');
  dirs.sort((a, b) => compareCodePoints(a.rel, b.rel));
  const out: string[] = [];
  for (const d of dirs) for (const f of d.files) out.push(d.rel ? `${d.rel}/${f}` : f);
  return out;
}

class ImageFolderDataset implements Dataset {
  readonly format = 'imagefolder' as const;
  readonly split = 'all' as const;
  readonly size: number;
  private readonly offsets: number[];

  constructor(
    readonly root: string,
    readonly classNames: string[],
    readonly classSizes: number[],
    readonly ignored: IgnoredFile[],
    readonly ignoredCount: number,
    private readonly classSource: string,
  ) {
    this.offsets = [];
    let n = 0;
    for (const s of classSizes) {
      this.offsets.push(n);
      n += s;
    }
    this.size = n;
  }

  async itemsOfClass(c: number): Promise<ImageItem[]> {
    checkClassIndex(this, c);
    const name = this.classNames[c];
    const dir = join(this.root, name);
    const files = await walkClass(dir, () => undefined);
    if (files.length !== this.classSizes[c]) {
      throw new InputError(`dataset ${this.root} changed since it was opened: class '${name}' had ${this.classSizes[c]} images, now ${files.length}`);
    }
    const base = this.offsets[c];
    return files.map((f, i) => ({ index: base + i, id: `${name}/${f}`, path: join(dir, ...f.split('/')), label: c }));
  }

  async *items(): AsyncIterable<ImageItem> {
    for (let c = 0; c < this.classNames.length; c++) yield* await this.itemsOfClass(c);
  }

  describe(): DatasetDescription {
    return describeDataset(this, this.classSource);
  }
}

/**
 * Open root/<class>/<images>. Classes are the non-hidden sub-folders in code-point order, or
 * `classList` in its order (every listed class must exist; other folders are ignored and reported).
 */
export async function openImageFolder(root: string, options: ImageFolderOptions = {}): Promise<Dataset> {
  const abs = resolve(root);
  if (!(await isDirectory(abs))) throw new InputError(`dataset ${root}: not a directory`);
  const ignored: IgnoredFile[] = [];
  let ignoredCount = 0;
  const onIgnored = (f: IgnoredFile): void => {
    ignoredCount++;
    if (ignored.length < MAX_IGNORED_LISTED) ignored.push(f);
  };
  const entries = await readdir(abs, { withFileTypes: true });
  const folders: string[] = [];
  for (const e of entries) {
    if (isHidden(e.name)) continue;
    const p = join(abs, e.name);
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(p)))) folders.push(e.name);
    else onIgnored({ path: p, reason: 'file at the top level (images belong in class folders)' });
  }
  let classNames: string[];
  let classSource: string;
  if (options.classList !== undefined) {
    classSource = typeof options.classList === 'string' ? options.classList : 'array';
    classNames = typeof options.classList === 'string' ? await readClassList(options.classList) : [...options.classList];
    const dup = classNames.find((n, i) => classNames.indexOf(n) !== i);
    if (dup !== undefined) throw new InputError(`class list (${classSource}): '${dup}' appears twice`);
    const present = new Set(folders);
    const missing = classNames.filter((n) => !present.has(n));
    if (missing.length) {
      throw new InputError(`dataset ${root}: class list (${classSource}) names ${missing.length} classes with no folder: ${missing.slice(0, 5).map((m) => `'${m}'`).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
    }
    const listed = new Set(classNames);
    for (const f of sortCodePoints(folders)) if (!listed.has(f)) onIgnored({ path: join(abs, f), reason: 'class folder not in the class list' });
  } else {
    classSource = 'directories';
    classNames = sortCodePoints(folders);
  }
  if (classNames.length === 0) throw new InputError(`dataset ${root}: no class folders (expected root/<class>/<images>)`);
  const classSizes: number[] = [];
  for (const name of classNames) classSizes.push((await walkClass(join(abs, name), onIgnored)).length);
  const empty = classNames.filter((_, i) => classSizes[i] === 0);
  if (empty.length && !options.allowEmptyClasses) {
    throw new InputError(
      `dataset ${root}: ${empty.length} class folders hold no images: ${empty.slice(0, 5).map((m) => `'${m}'`).join(', ')}${empty.length > 5 ? ', ...' : ''} ` +
        `(recognised extensions: .jpg .jpeg .png .webp .tif .tiff .gif .avif and more; see docs/data.md)`,
    );
  }
  return new ImageFolderDataset(abs, classNames, classSizes, ignored, ignoredCount, classSource);
}

