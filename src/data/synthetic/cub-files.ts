/**
 * A small strict reader of the CUB-200-2011 text files, used to check the synthetic dataset and to
 * draw its contact sheet. Every inconsistency is an InputError naming the file and line.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../util/errors.ts';

export interface CubFilesImage {
  id: number;
  /** Path relative to `images/`. */
  path: string;
  /** 1-based class id. */
  classId: number;
  isTrain: boolean;
  /** x, y, width, height as written. */
  bbox: [number, number, number, number];
  /** One entry per part id (index = part id - 1). */
  parts: Array<{ x: number; y: number; visible: boolean }>;
}

export interface CubFiles {
  dir: string;
  /** Class folder names by id - 1. */
  classes: string[];
  /** Part names by id - 1. */
  parts: string[];
  images: CubFilesImage[];
}

async function table(dir: string, rel: string, fields: number): Promise<string[][]> {
  let text: string;
  try {
    text = await readFile(join(dir, rel), 'utf8');
  } catch (err) {
    throw new InputError(`${join(dir, rel)}: cannot read (${(err as Error).message})`);
  }
  return text
    .split('\n')
    .map((l, i) => [l.trim(), i + 1] as const)
    .filter(([l]) => l.length > 0)
    .map(([l, n]) => {
      const f = l.split(/\s+/);
      // Names may contain spaces (parts.txt: "left eye"): join the tail into the last field.
      const row = [...f.slice(0, fields - 1), f.slice(fields - 1).join(' ')];
      if (f.length < fields) throw new InputError(`${join(dir, rel)} line ${n}: expected ${fields} fields, got '${l}'`);
      return row;
    });
}

function int(v: string, where: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InputError(`${where}: expected an integer, got '${v}'`);
  return n;
}

function float(v: string, where: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InputError(`${where}: expected a number, got '${v}'`);
  return n;
}

/** Read a dataset directory in the CUB-200-2011 layout (text files only; images are not opened). */
export async function readCubFiles(dir: string): Promise<CubFiles> {
  const classes = await table(dir, 'classes.txt', 2);
  const parts = await table(dir, 'parts/parts.txt', 2);
  const imgs = await table(dir, 'images.txt', 2);
  const labels = await table(dir, 'image_class_labels.txt', 2);
  const split = await table(dir, 'train_test_split.txt', 2);
  const boxes = await table(dir, 'bounding_boxes.txt', 5);
  const locs = await table(dir, 'parts/part_locs.txt', 5);
  classes.forEach((r, i) => {
    if (int(r[0], 'classes.txt') !== i + 1) throw new InputError(`classes.txt: ids must run 1..n in order, line ${i + 1} has ${r[0]}`);
  });
  parts.forEach((r, i) => {
    if (int(r[0], 'parts/parts.txt') !== i + 1) throw new InputError(`parts/parts.txt: ids must run 1..n in order, line ${i + 1} has ${r[0]}`);
  });
  const n = imgs.length;
  for (const [name, t] of [['image_class_labels.txt', labels], ['train_test_split.txt', split], ['bounding_boxes.txt', boxes]] as const) {
    if (t.length !== n) throw new InputError(`${name}: ${t.length} lines for ${n} images in images.txt`);
  }
  const images: CubFilesImage[] = imgs.map((r, i) => {
    const id = int(r[0], 'images.txt');
    if (id !== i + 1) throw new InputError(`images.txt: ids must run 1..n in order, line ${i + 1} has ${id}`);
    for (const [name, t] of [['image_class_labels.txt', labels], ['train_test_split.txt', split], ['bounding_boxes.txt', boxes]] as const) {
      if (int(t[i][0], name) !== id) throw new InputError(`${name} line ${i + 1}: image id ${t[i][0]}, expected ${id}`);
    }
    const classId = int(labels[i][1], 'image_class_labels.txt');
    if (classId < 1 || classId > classes.length) throw new InputError(`image_class_labels.txt line ${i + 1}: class ${classId} not in classes.txt`);
    const flag = int(split[i][1], 'train_test_split.txt');
    if (flag !== 0 && flag !== 1) throw new InputError(`train_test_split.txt line ${i + 1}: expected 0 or 1, got ${flag}`);
    const b = boxes[i].slice(1).map((v) => float(v, `bounding_boxes.txt line ${i + 1}`)) as [number, number, number, number];
    return { id, path: r[1], classId, isTrain: flag === 1, bbox: b, parts: parts.map(() => ({ x: 0, y: 0, visible: false })) };
  });
  const seen = new Set<string>();
  for (const [li, r] of locs.entries()) {
    const where = `parts/part_locs.txt line ${li + 1}`;
    const id = int(r[0], where);
    const pid = int(r[1], where);
    if (id < 1 || id > n || pid < 1 || pid > parts.length) throw new InputError(`${where}: image ${id} / part ${pid} out of range`);
    const key = `${id} ${pid}`;
    if (seen.has(key)) throw new InputError(`${where}: duplicate entry for image ${id} part ${pid}`);
    seen.add(key);
    const vis = int(r[4], where);
    if (vis !== 0 && vis !== 1) throw new InputError(`${where}: visible must be 0 or 1, got ${vis}`);
    images[id - 1].parts[pid - 1] = { x: float(r[2], where), y: float(r[3], where), visible: vis === 1 };
  }
  if (seen.size !== n * parts.length) throw new InputError(`parts/part_locs.txt: ${seen.size} entries, expected ${n * parts.length} (every image x every part)`);
  return { dir, classes: classes.map((r) => r[1]), parts: parts.map((r) => r[1]), images };
}
