/**
 * Explanation cards as files: `writeCard` checks every linked picture exists and writes the card
 * (card-html.ts) atomically; `inlineCardImages` embeds the pictures as data: URIs.
 */
import { access, readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { InputError } from '../util/errors.ts';
import { pictureUrl, renderCard, validateCard, type CardData, type CardOptions } from './card-html.ts';

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp' };

/** Every picture reference of `data` with its field name. */
function pictureFields(d: CardData): { field: string; get: () => string | undefined; set: (v: string) => void }[] {
  const out: { field: string; get: () => string | undefined; set: (v: string) => void }[] = [
    { field: 'imagePath', get: () => d.imagePath, set: (v) => (d.imagePath = v) },
    { field: 'combinedViewPath', get: () => d.combinedViewPath, set: (v) => (d.combinedViewPath = v) },
  ];
  d.prototypes.forEach((p, i) => {
    out.push({ field: `prototypes[${i}].overlayPath`, get: () => p.overlayPath, set: (v) => (p.overlayPath = v) });
    p.exemplars.forEach((e, j) => {
      out.push({ field: `prototypes[${i}].exemplars[${j}].path`, get: () => e.path, set: (v) => (e.path = v) });
      out.push({ field: `prototypes[${i}].exemplars[${j}].contextPath`, get: () => e.contextPath, set: (v) => (e.contextPath = v) });
    });
  });
  return out;
}

function cloneCard(d: CardData): CardData {
  return {
    ...d,
    prototypes: d.prototypes.map((p) => ({ ...p, box: { ...p.box }, exemplars: p.exemplars.map((e) => ({ ...e })) })),
  };
}

function fileOf(cardDir: string, ref: string, field: string): string {
  pictureUrl(ref, field);
  if (isAbsolute(ref)) throw new InputError(`card: ${field} '${ref}' must be relative to the card's folder`);
  return resolve(cardDir, ref);
}

/**
 * A copy of `data` whose picture paths (relative to `cardDir`) are replaced by data:image URIs of
 * the files' bytes, so the card is one file. References that already are data: URIs stay.
 * @throws InputError naming the field when a file is missing or not PNG/JPEG/GIF/WebP by extension.
 */
export async function inlineCardImages(data: CardData, cardDir: string): Promise<CardData> {
  const copy = cloneCard(data);
  for (const f of pictureFields(copy)) {
    const ref = f.get();
    if (ref === undefined || /^data:/i.test(ref)) continue;
    const file = fileOf(cardDir, ref, f.field);
    const mime = MIME[extname(file).toLowerCase()];
    if (!mime) throw new InputError(`card: ${f.field} '${ref}' is not a .png, .jpg, .gif or .webp file`);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new InputError(`card: ${f.field} '${ref}' cannot be read from ${file}: ${(e as Error).message}`, { cause: e });
    }
    f.set(`data:${mime};base64,${bytes.toString('base64')}`);
  }
  return copy;
}

/**
 * Render the card and write it to `file` atomically. Every relative picture path must name an
 * existing file relative to the card's folder; with `inline: true` the pictures are embedded as
 * data: URIs instead of linked.
 * @throws InputError listing missing pictures; see `renderCard` for the rest.
 */
export async function writeCard(file: string, data: CardData, options: CardOptions & { inline?: boolean } = {}): Promise<void> {
  validateCard(data);
  const dir = dirname(resolve(file));
  const missing: string[] = [];
  for (const f of pictureFields(cloneCard(data))) {
    const ref = f.get();
    if (ref === undefined || /^data:/i.test(ref)) continue;
    const path = fileOf(dir, ref, f.field);
    try {
      await access(path);
    } catch {
      missing.push(`${f.field} '${ref}'`);
    }
  }
  if (missing.length > 0) throw new InputError(`card ${file}: pictures not found relative to ${dir}: ${missing.join(', ')}`);
  const final = options.inline ? await inlineCardImages(data, dir) : data;
  await writeFileAtomic(file, renderCard(final, options));
}
