/**
 * Contact sheet of a dataset in the CUB-200-2011 layout: one row per class, a few images each,
 * optionally with every visible part keypoint and the bounding box drawn on top (a debug sheet for
 * checking that keypoints sit on their parts).
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { InputError } from '../../util/errors.ts';
import { writeFileAtomic } from './files.ts';
import { fmt } from './geometry.ts';
import { readCubFiles } from './cub-files.ts';
import { PART_MARK_COLOURS, svgDocument } from './scene.ts';

export interface ContactSheetOptions {
  /** 1-based ids of the classes to draw, in row order. Default: every class. */
  classIds?: readonly number[];
  /** Images per class (row). Default 6. */
  perClass: number;
  /** Which split to draw from. Default 'test'. */
  split: 'train' | 'test' | 'all';
  /** Tile side in pixels (images are resized to it). Default 96. */
  cell: number;
  /** Draw visible part keypoints (coloured dots with a legend). Default false. */
  keypoints: boolean;
  /** Draw the bounding boxes. Default false. */
  boxes: boolean;
  /** Write a palette PNG with this many colours (2-256), several times smaller; 0 for full colour. Default 256. */
  palette: number;
}

export interface ContactSheetResult {
  path: string;
  width: number;
  height: number;
  bytes: number;
  images: number;
}

const GAP = 2;

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Draw a contact sheet of the dataset in `dir` to the PNG file `outPng`. */
export async function contactSheet(dir: string, outPng: string, options: Partial<ContactSheetOptions> = {}): Promise<ContactSheetResult> {
  const o: ContactSheetOptions = { perClass: 6, split: 'test', cell: 96, keypoints: false, boxes: false, palette: 256, ...options };
  if (!Number.isInteger(o.perClass) || o.perClass < 1) throw new InputError(`perClass: expected a positive integer, got ${o.perClass}`);
  if (!Number.isInteger(o.palette) || o.palette < 0 || o.palette > 256 || o.palette === 1) throw new InputError(`palette: expected 0 or an integer from 2 to 256, got ${o.palette}`);
  if (!Number.isInteger(o.cell) || o.cell < 16) throw new InputError(`cell: expected an integer >= 16, got ${o.cell}`);
  const layout = await readCubFiles(dir);
  const ids = o.classIds ?? layout.classes.map((_, i) => i + 1);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 1 || id > layout.classes.length) throw new InputError(`classIds: ${id} is not a class id of ${dir} (1..${layout.classes.length})`);
  }
  const rows = ids.map((id) =>
    layout.images.filter((im) => im.classId === id && (o.split === 'all' || im.isTrain === (o.split === 'train'))).slice(0, o.perClass),
  );
  const legendH = o.keypoints ? 20 * Math.ceil(layout.parts.length / 5) + 8 : 0;
  // Label column wide enough for the longest class name (DejaVu Sans 12 px: about 7.2 px a character).
  const LABEL_W = Math.max(120, Math.ceil(Math.max(...ids.map((id) => layout.classes[id - 1].length)) * 7.2) + 12);
  const width = LABEL_W + o.perClass * (o.cell + GAP);
  const height = ids.length * (o.cell + GAP) + legendH;
  const tiles: OverlayOptions[] = [];
  const overlay: string[] = [];
  for (const [ci, row] of rows.entries()) {
    const top = ci * (o.cell + GAP);
    const name = layout.classes[ids[ci] - 1].replace(/_/g, ' ');
    overlay.push(`<text x="6" y="${top + o.cell / 2 + 4}" font-family="DejaVu Sans, sans-serif" font-size="12" fill="#202020">${escapeXml(name)}</text>`);
    for (const [j, im] of row.entries()) {
      const left = LABEL_W + j * (o.cell + GAP);
      const file = join(dir, 'images', im.path);
      const img = sharp(file);
      const meta = await img.metadata();
      if (!meta.width || !meta.height) throw new InputError(`${file}: cannot read image size`);
      tiles.push({ input: await img.resize(o.cell, o.cell, { fit: 'fill' }).png().toBuffer(), left, top });
      const sx = o.cell / meta.width;
      const sy = o.cell / meta.height;
      if (o.boxes) {
        const [x, y, w, h] = im.bbox;
        overlay.push(`<rect x="${fmt(left + x * sx)}" y="${fmt(top + y * sy)}" width="${fmt(w * sx)}" height="${fmt(h * sy)}" fill="none" stroke="#ffffff" stroke-width="1"/>`);
      }
      if (o.keypoints) {
        const r = Math.max(1.6, o.cell / 60);
        im.parts.forEach((p, pi) => {
          if (!p.visible) return;
          overlay.push(`<circle cx="${fmt(left + p.x * sx)}" cy="${fmt(top + p.y * sy)}" r="${fmt(r)}" fill="${PART_MARK_COLOURS[pi % PART_MARK_COLOURS.length]}" stroke="#000000" stroke-width="${fmt(r / 3)}"/>`);
        });
      }
    }
  }
  if (o.keypoints) {
    const y0 = ids.length * (o.cell + GAP) + 6;
    layout.parts.forEach((p, pi) => {
      const x = 6 + (pi % 5) * Math.floor((width - 12) / 5);
      const y = y0 + 20 * Math.floor(pi / 5) + 8;
      overlay.push(`<circle cx="${x + 5}" cy="${y}" r="5" fill="${PART_MARK_COLOURS[pi % PART_MARK_COLOURS.length]}" stroke="#000000" stroke-width="1"/>`);
      overlay.push(`<text x="${x + 14}" y="${y + 4}" font-family="DejaVu Sans, sans-serif" font-size="12" fill="#202020">${escapeXml(p)}</text>`);
    });
  }
  tiles.push({ input: Buffer.from(svgDocument(width, height, overlay.join(''))), left: 0, top: 0 });
  const png = await sharp({ create: { width, height, channels: 3, background: '#f4f4f0' } })
    .composite(tiles)
    .png(o.palette > 0 ? { palette: true, colours: o.palette, effort: 10, compressionLevel: 9 } : { compressionLevel: 9 })
    .toBuffer();
  await mkdir(dirname(outPng), { recursive: true });
  await writeFileAtomic(outPng, png);
  return { path: outPng, width, height, bytes: png.length, images: rows.reduce((a, r) => a + r.length, 0) };
}
