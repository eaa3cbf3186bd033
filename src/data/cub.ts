/**
 * CUB-200-2011 layout: images.txt, classes.txt, image_class_labels.txt, train_test_split.txt,
 * bounding_boxes.txt, parts/parts.txt, parts/part_locs.txt, images/<class>/<file>. Annotations are
 * parsed exactly as the EvalProtoPNet reference reads them; a missing or malformed file is an
 * InputError naming the file and line.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../util/errors.ts';
import { hasSegmentations } from './segmentation.ts';
import { checkClassIndex, describeDataset, type Dataset, type DatasetDescription, type Split } from './dataset.ts';
import type { BoundingBox, IgnoredFile, ImageItem, PartLocation } from './types.ts';

/** The annotation files of the layout, relative to the root. */
export const CUB_FILES = {
  images: 'images.txt',
  classes: 'classes.txt',
  labels: 'image_class_labels.txt',
  split: 'train_test_split.txt',
  boxes: 'bounding_boxes.txt',
  parts: 'parts/parts.txt',
  partLocs: 'parts/part_locs.txt',
} as const;

/** Whether `root` looks like the CUB layout (images.txt and classes.txt present). */
export async function isCubLayout(root: string): Promise<boolean> {
  const has = async (f: string): Promise<boolean> => stat(join(root, f)).then((s) => s.isFile(), () => false);
  return (await has(CUB_FILES.images)) && (await has(CUB_FILES.classes));
}

interface Line {
  n: number;
  fields: string[];
  text: string;
}

async function readLines(root: string, file: string, required: boolean): Promise<Line[] | undefined> {
  const path = join(root, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`CUB dataset ${root}: cannot read ${file} (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message})`);
  }
  const lines: Line[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t) lines.push({ n: i + 1, fields: t.split(/\s+/), text: t });
  });
  return lines;
}

function bad(root: string, file: string, line: Line, expected: string): never {
  const shown = line.text.length > 80 ? `${line.text.slice(0, 77)}...` : line.text;
  throw new InputError(`CUB dataset ${root}: ${file} line ${line.n}: expected ${expected}, got '${shown}'`);
}

function positiveInt(s: string): number | undefined {
  return /^\d+$/.test(s) && Number(s) >= 1 ? Number(s) : undefined;
}

/** Python's int(s.split('.')[0]): the reference's truncation of bounding-box values. */
export function truncateLikeReference(s: string): number | undefined {
  const head = s.split('.')[0];
  return /^[+-]?\d+$/.test(head) ? Number(head) + 0 : undefined;
}

/** Python's int(float(s)): the reference's truncation of part coordinates. */
export function truncateFloat(s: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? Math.trunc(v) + 0 : undefined;
}

/** "<id> <rest of line>" files (names may contain spaces). */
function idAndName(root: string, file: string, lines: Line[], what: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const l of lines) {
    const m = /^(\S+)\s+(.+)$/.exec(l.text);
    const id = m ? positiveInt(m[1]) : undefined;
    if (!m || id === undefined) bad(root, file, l, `'<${what}_id> <${what}_name>' with a positive integer id`);
    if (out.has(id)) bad(root, file, l, `a ${what} id not seen before (id ${id} repeats)`);
    out.set(id, m[2]);
  }
  return out;
}

/** Per-image numeric records: checks the id is a known image and each line has `count` fields. */
function perImage(root: string, file: string, lines: Line[], count: number, expected: string, images: Map<number, string>): Map<number, Line> {
  const out = new Map<number, Line>();
  for (const l of lines) {
    if (l.fields.length !== count) bad(root, file, l, expected);
    const id = positiveInt(l.fields[0]);
    if (id === undefined) bad(root, file, l, `${expected} with a positive integer image id`);
    if (!images.has(id)) bad(root, file, l, `an image id listed in images.txt (${id} is not)`);
    if (out.has(id)) bad(root, file, l, `one line per image (image ${id} repeats)`);
    out.set(id, l);
  }
  for (const id of images.keys()) {
    if (!out.has(id)) throw new InputError(`CUB dataset ${root}: ${file} has no line for image ${id} (${images.get(id)})`);
  }
  return out;
}

export interface CubOptions {
  split?: Split;
}

class CubDataset implements Dataset {
  readonly format = 'cub' as const;
  readonly ignored: IgnoredFile[] = [];
  readonly ignoredCount = 0;
  readonly size: number;
  readonly classSizes: number[];
  private readonly byClass: ImageItem[][];

  constructor(
    readonly root: string,
    readonly split: Split,
    readonly classNames: string[],
    readonly partNames: string[] | undefined,
    private readonly all: ImageItem[],
  ) {
    this.size = all.length;
    this.byClass = classNames.map(() => []);
    for (const it of all) this.byClass[it.label].push(it);
    this.classSizes = this.byClass.map((c) => c.length);
  }

  async itemsOfClass(c: number): Promise<ImageItem[]> {
    checkClassIndex(this, c);
    return [...this.byClass[c]];
  }

  async *items(): AsyncIterable<ImageItem> {
    yield* this.all;
  }

  describe(): DatasetDescription {
    return describeDataset(this, CUB_FILES.classes);
  }
}

/**
 * Open a CUB-200-2011 layout. Required: images.txt, classes.txt, image_class_labels.txt, and
 * train_test_split.txt unless split is 'all'. Optional: bounding_boxes.txt (needed by cropToBox) and
 * the parts pair. Classes are ordered by class id; items by image id. Image files are not opened
 * here: a missing one is reported when it is decoded.
 */
export async function openCub(root: string, options: CubOptions = {}): Promise<Dataset> {
  const abs = resolve(root);
  const split = options.split ?? 'all';
  const F = CUB_FILES;
  const imageNames = idAndName(abs, F.images, (await readLines(abs, F.images, true))!, 'image');
  const classMap = idAndName(abs, F.classes, (await readLines(abs, F.classes, true))!, 'class');
  if (classMap.size === 0) throw new InputError(`CUB dataset ${abs}: ${F.classes} lists no classes`);
  const classIds = [...classMap.keys()].sort((a, b) => a - b);
  const classIndex = new Map(classIds.map((id, i) => [id, i]));
  const classNames = classIds.map((id) => classMap.get(id)!);

  const labels = perImage(abs, F.labels, (await readLines(abs, F.labels, true))!, 2, "'<image_id> <class_id>'", imageNames);
  const splitLines = await readLines(abs, F.split, split !== 'all');
  const splits = splitLines && perImage(abs, F.split, splitLines, 2, "'<image_id> <is_training_image>'", imageNames);
  const boxLines = await readLines(abs, F.boxes, false);
  const boxes = boxLines && perImage(abs, F.boxes, boxLines, 5, "'<image_id> <x> <y> <width> <height>'", imageNames);

  // Foreground masks (segmentations/<class>/<image>.png), when the dataset has the folder.
  const segmentations = await hasSegmentations(abs);

  const partLines = await readLines(abs, F.parts, false);
  const locLines = await readLines(abs, F.partLocs, false);
  if ((partLines === undefined) !== (locLines === undefined)) {
    throw new InputError(`CUB dataset ${abs}: ${partLines ? F.partLocs : F.parts} is missing (the parts files come as a pair)`);
  }
  let partNames: string[] | undefined;
  const partsOf = new Map<number, PartLocation[]>();
  if (partLines && locLines) {
    const pm = idAndName(abs, F.parts, partLines, 'part');
    const ids = [...pm.keys()].sort((a, b) => a - b);
    ids.forEach((id, i) => {
      if (id !== i + 1) throw new InputError(`CUB dataset ${abs}: ${F.parts}: part ids must be 1..${ids.length} (found ${id} at position ${i + 1})`);
    });
    partNames = ids.map((id) => pm.get(id)!);
    const seen = new Set<string>();
    for (const l of locLines) {
      const exp = "'<image_id> <part_id> <x> <y> <visible>'";
      if (l.fields.length !== 5) bad(abs, F.partLocs, l, exp);
      const [si, sp, sx, sy, sv] = l.fields;
      const id = positiveInt(si);
      const pid = positiveInt(sp);
      const x = truncateFloat(sx);
      const y = truncateFloat(sy);
      if (id === undefined || !imageNames.has(id)) bad(abs, F.partLocs, l, `${exp} with an image id listed in images.txt`);
      if (pid === undefined || pid > ids.length) bad(abs, F.partLocs, l, `${exp} with a part id in 1..${ids.length}`);
      if (x === undefined || y === undefined) bad(abs, F.partLocs, l, `${exp} with numeric coordinates`);
      if (sv !== '0' && sv !== '1') bad(abs, F.partLocs, l, `${exp} with visible 0 or 1`);
      const key = `${id}:${pid}`;
      if (seen.has(key)) bad(abs, F.partLocs, l, `one line per image and part (image ${id} part ${pid} repeats)`);
      seen.add(key);
      let list = partsOf.get(id);
      if (!list) partsOf.set(id, (list = []));
      list.push({ partId: pid, x, y, visible: sv === '1' });
    }
    for (const list of partsOf.values()) list.sort((a, b) => a.partId - b.partId);
  }

  const items: ImageItem[] = [];
  for (const id of [...imageNames.keys()].sort((a, b) => a - b)) {
    const ll = labels.get(id)!;
    const cid = positiveInt(ll.fields[1]);
    const label = cid === undefined ? undefined : classIndex.get(cid);
    if (label === undefined) bad(abs, F.labels, ll, `a class id listed in ${F.classes} (got ${ll.fields[1]})`);
    let isTrain: boolean | undefined;
    if (splits) {
      const sl = splits.get(id)!;
      if (sl.fields[1] !== '0' && sl.fields[1] !== '1') bad(abs, F.split, sl, "'<image_id> <is_training_image>' with 0 or 1");
      isTrain = sl.fields[1] === '1';
      if ((split === 'train' && !isTrain) || (split === 'test' && isTrain)) continue;
    }
    const name = imageNames.get(id)!;
    const item: ImageItem = { index: items.length, id: String(id), path: join(abs, 'images', ...name.split('/')), label };
    if (isTrain !== undefined) item.isTrain = isTrain;
    if (boxes) {
      const bl = boxes.get(id)!;
      const exp = "'<image_id> <x> <y> <width> <height>' with numbers";
      const raw = bl.fields.slice(1).map(Number);
      const t = bl.fields.slice(1).map(truncateLikeReference);
      if (raw.some((v) => !Number.isFinite(v)) || t.some((v) => v === undefined)) bad(abs, F.boxes, bl, exp);
      const bbox: BoundingBox = { x: raw[0], y: raw[1], w: raw[2], h: raw[3] };
      const [x1, y1, w, h] = t as number[];
      if (!(w >= 1 && h >= 1)) bad(abs, F.boxes, bl, 'a box at least 1 pixel wide and high after truncation');
      item.bbox = bbox;
      item.crop = { x1, y1, x2: x1 + w, y2: y1 + h };
    }
    const parts = partsOf.get(id);
    if (parts) item.parts = parts.map((p) => ({ ...p }));
    if (segmentations) item.segmentation = join(abs, 'segmentations', ...name.replace(/\.[^./]+$/, '.png').split('/'));
    items.push(item);
  }
  return new CubDataset(abs, split, classNames, partNames, items);
}
