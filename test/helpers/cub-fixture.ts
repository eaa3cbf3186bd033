/**
 * Test fixtures: a CUB-200-2011 layout written to disk with planted, known annotations, so tests of
 * any area can exercise the real reader, decoder and geometry on small generated images.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/random.ts';
import type { BoundingBox, PartLocation } from '../../src/data/types.ts';

export interface CubFixtureSpec {
  /** Class folder names (CUB style '001.Name'), or a count (names '001.class_1', ...). */
  classes: string[] | number;
  /** Images per class (one number for all, or one per class). */
  imagesPerClass: number | number[];
  /** Image size in pixels (default 96 x 72). */
  width?: number;
  height?: number;
  /** Part names, in part id order (default ['beak', 'left eye', 'tail']). */
  partNames?: string[];
  /** Within each class, every testEvery-th image (1st, (n+1)-th, ...) is a test image (default 2). */
  testEvery?: number;
  /** Every invisibleEvery-th part annotation is not visible, written as '0.0 0.0 0' (default 4; 0 = all visible). */
  invisibleEvery?: number;
  /** Image file format (default 'png', lossless so pixel values are known exactly). */
  format?: 'png' | 'jpg';
  /** Seed of the layout (default 1). */
  seed?: number;
  /**
   * Write CUB foreground masks (segmentations/<class>/<image>.png, 8-bit grey): 255 on the left half
   * of the integer box (columns x1 .. x1 + floor((x2 - x1) / 2) - 1, rows y1 .. y2 - 1), 0 elsewhere.
   */
  segmentations?: boolean;
}

export interface CubFixtureImage {
  /** 1-based image id. */
  id: number;
  /** Relative name as in images.txt ('<class>/<file>'). */
  name: string;
  path: string;
  classIndex: number;
  isTrain: boolean;
  /** As written in bounding_boxes.txt (floats with fractions). */
  bbox: BoundingBox;
  /** As written in part_locs.txt (floats; invisible parts at 0, 0). */
  parts: PartLocation[];
  /** Pixel colour inside the box and outside it; each visible part has a 3 x 3 marker of partColour(partId) centred at its truncated coordinates. */
  colours: { inside: [number, number, number]; outside: [number, number, number] };
}

export interface CubFixture {
  root: string;
  classNames: string[];
  partNames: string[];
  images: CubFixtureImage[];
}

/** Marker colour of part id p (1-based): distinct, saturated. */
export function partColour(p: number): [number, number, number] {
  const palette: [number, number, number][] = [
    [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 128, 0], [128, 0, 255],
  ];
  return palette[(p - 1) % palette.length];
}

const fmt = (v: number): string => (Number.isInteger(v) ? v.toFixed(1) : String(v));

/**
 * Write a CUB-layout dataset under `dir` (created) and return what was written. Each image: a
 * class-coloured background, a lighter box over the bounding box, and a 3 x 3 marker per visible
 * part. Box values carry fractions (e.g. 10.7) to exercise the reference truncation.
 */
export async function writeCubFixture(dir: string, spec: CubFixtureSpec): Promise<CubFixture> {
  const rng = new Rng(spec.seed ?? 1);
  const W = spec.width ?? 96;
  const H = spec.height ?? 72;
  const classNames = typeof spec.classes === 'number' ? Array.from({ length: spec.classes }, (_, i) => `${String(i + 1).padStart(3, '0')}.class_${i + 1}`) : [...spec.classes];
  const partNames = spec.partNames ?? ['beak', 'left eye', 'tail'];
  const testEvery = spec.testEvery ?? 2;
  const invisibleEvery = spec.invisibleEvery ?? 4;
  const ext = spec.format ?? 'png';
  const counts = classNames.map((_, c) => (Array.isArray(spec.imagesPerClass) ? spec.imagesPerClass[c] : spec.imagesPerClass));
  await mkdir(join(dir, 'parts'), { recursive: true });
  const images: CubFixtureImage[] = [];
  let annotation = 0;
  for (let c = 0; c < classNames.length; c++) {
    await mkdir(join(dir, 'images', classNames[c]), { recursive: true });
    const outside: [number, number, number] = [40 + ((c * 53) % 160), 30 + ((c * 97) % 120), 60 + ((c * 31) % 150)];
    const inside: [number, number, number] = [outside[0] + 40, outside[1] + 60, outside[2] + 40];
    for (let k = 0; k < counts[c]; k++) {
      const id = images.length + 1;
      const f = id % 6;
      const x = Math.min(W - 30, 2 + rng.int(Math.max(1, Math.floor(W / 5)))) + [0.7, 0.2, 0.9, 0.5, 0, 0.25][f];
      const y = Math.min(H - 24, 2 + rng.int(Math.max(1, Math.floor(H / 5)))) + [0.2, 0.9, 0.5, 0, 0.75, 0.3][f];
      const w = Math.min(W - 2 - Math.ceil(x), Math.floor(W / 3) + rng.int(Math.floor(W / 3))) + [0.9, 0.5, 0.1, 0, 0.6, 0.4][f];
      const h = Math.min(H - 2 - Math.ceil(y), Math.floor(H / 3) + rng.int(Math.floor(H / 3))) + [0.5, 0.1, 0, 0.8, 0.2, 0.9][f];
      const bbox = { x, y, w, h };
      const x1 = Math.trunc(x);
      const y1 = Math.trunc(y);
      const x2 = x1 + Math.trunc(w);
      const y2 = y1 + Math.trunc(h);
      const parts: PartLocation[] = partNames.map((_, pi) => {
        annotation++;
        if (invisibleEvery > 0 && annotation % invisibleEvery === 0) return { partId: pi + 1, x: 0, y: 0, visible: false };
        const px = x1 + 2 + rng.int(Math.max(1, x2 - x1 - 4)) + (pi % 2 ? 0.5 : 0);
        const py = y1 + 2 + rng.int(Math.max(1, y2 - y1 - 4));
        return { partId: pi + 1, x: px, y: py, visible: true };
      });
      const rgb = Buffer.alloc(W * H * 3);
      for (let yy = 0; yy < H; yy++) {
        for (let xx = 0; xx < W; xx++) {
          const col = xx >= x1 && xx < x2 && yy >= y1 && yy < y2 ? inside : outside;
          rgb.set(col, (yy * W + xx) * 3);
        }
      }
      for (const p of parts) {
        if (!p.visible) continue;
        const cx = Math.trunc(p.x);
        const cy = Math.trunc(p.y);
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) rgb.set(partColour(p.partId), ((cy + dy) * W + cx + dx) * 3);
      }
      const name = `${classNames[c]}/img_${String(id).padStart(4, '0')}.${ext}`;
      const path = join(dir, 'images', ...name.split('/'));
      const img = sharp(rgb, { raw: { width: W, height: H, channels: 3 } });
      await (ext === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(path);
      if (spec.segmentations) {
        const mask = Buffer.alloc(W * H);
        const half = x1 + Math.floor((x2 - x1) / 2);
        for (let yy = y1; yy < y2; yy++) mask.fill(255, yy * W + x1, yy * W + half);
        await mkdir(join(dir, 'segmentations', classNames[c]), { recursive: true });
        await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toFile(join(dir, 'segmentations', classNames[c], `img_${String(id).padStart(4, '0')}.png`));
      }
      images.push({ id, name, path, classIndex: c, isTrain: k % testEvery !== 0, bbox, parts, colours: { inside, outside } });
    }
  }
  const lines = (rows: string[]): string => rows.join('\n') + '\n';
  await writeFile(join(dir, 'images.txt'), lines(images.map((im) => `${im.id} ${im.name}`)));
  await writeFile(join(dir, 'classes.txt'), lines(classNames.map((n, i) => `${i + 1} ${n}`)));
  await writeFile(join(dir, 'image_class_labels.txt'), lines(images.map((im) => `${im.id} ${im.classIndex + 1}`)));
  await writeFile(join(dir, 'train_test_split.txt'), lines(images.map((im) => `${im.id} ${im.isTrain ? 1 : 0}`)));
  await writeFile(join(dir, 'bounding_boxes.txt'), lines(images.map((im) => `${im.id} ${fmt(im.bbox.x)} ${fmt(im.bbox.y)} ${fmt(im.bbox.w)} ${fmt(im.bbox.h)}`)));
  await writeFile(join(dir, 'parts', 'parts.txt'), lines(partNames.map((n, i) => `${i + 1} ${n}`)));
  await writeFile(
    join(dir, 'parts', 'part_locs.txt'),
    lines(images.flatMap((im) => im.parts.map((p) => `${im.id} ${p.partId} ${fmt(p.x)} ${fmt(p.y)} ${p.visible ? 1 : 0}`))),
  );
  return { root: dir, classNames, partNames, images };
}
