/**
 * Decoding one image file to 8-bit sRGB RGB with sharp: EXIF orientation applied, first frame of
 * animated/multi-page files, transparency composited (or dropped), grayscale, CMYK and 16-bit
 * converted. File-level problems become `DecodeFailure`s with a short reason.
 */
import { open, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { InputError } from '../util/errors.ts';
import { UNDECODABLE_EXTENSIONS } from './order.ts';
import type { PreprocessConfig } from './preprocess-config.ts';

/** An 8-bit RGB image, row-major interleaved: data is height x width x 3. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** An image file that cannot be used (missing, empty, corrupt, unsupported). Names the file. */
export class DecodeFailure extends InputError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`image ${path}: ${reason}`, options);
    this.name = 'DecodeFailure';
    this.path = path;
    this.reason = reason;
  }
}

let configured = false;

/**
 * Default bound on the pixels of one decoded image: 40 megapixels (an 8000 x 5000 photo, 120 MB as
 * 8-bit RGB). A small compressed file can declare a huge image (a 729 KB PNG of 16000 x 16000 decodes
 * to 768 MB), so larger images are refused before decoding, as a failure of that image. Change it
 * with the environment variable PROTOLENS_MAX_PIXELS or `configureDecoder({ maxPixels })`.
 */
export const DEFAULT_MAX_PIXELS = 40_000_000;
let maxPixels = DEFAULT_MAX_PIXELS;

/** The bound in force (PROTOLENS_MAX_PIXELS when set, else the configured or default one). */
export function maxDecodedPixels(): number {
  return maxPixels;
}

function maxPixelsFromEnv(): number | undefined {
  const v = process.env.PROTOLENS_MAX_PIXELS;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InputError(`PROTOLENS_MAX_PIXELS: expected a positive integer (pixels per image), got '${v}'`);
  return Number(v);
}

/**
 * Set sharp's process-wide settings for streaming many small decodes: `threads` libvips threads per
 * image (default 1: on a 2-core machine parallelism comes from several images in flight, not from
 * splitting one small image), and libvips' operation cache off (a stream never revisits a file).
 * Called automatically before the first decode; call it yourself to choose other values.
 */
export function configureDecoder(options: { threads?: number; cache?: boolean; maxPixels?: number } = {}): void {
  sharp.concurrency(options.threads ?? 1);
  sharp.cache(options.cache ?? false);
  if (options.maxPixels !== undefined && !(Number.isInteger(options.maxPixels) && options.maxPixels >= 1)) throw new InputError(`maxPixels: expected a positive integer, got ${options.maxPixels}`);
  maxPixels = options.maxPixels ?? maxPixelsFromEnv() ?? DEFAULT_MAX_PIXELS;
  configured = true;
}

async function classify(path: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException)?.code;
  try {
    const s = await stat(path);
    if (s.isDirectory()) return 'is a directory, not an image file';
    if (s.size === 0) return 'empty file';
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code ?? code;
    if (c === 'ENOENT') return 'file not found';
    if (c === 'EACCES' || c === 'EPERM') return 'permission denied';
    return `unreadable: ${(e as Error).message}`;
  }
  const msg = String((err as Error)?.message ?? err).split('\n')[0].trim();
  if (/exceeds pixel limit/i.test(msg)) {
    const meta = await sharp(path, { limitInputPixels: false }).metadata().catch(() => null);
    const size = meta?.width && meta?.height ? `${meta.width} x ${meta.height} = ${meta.width * meta.height} pixels` : 'larger';
    return `image of ${size}, more than the limit of ${maxPixels} pixels (PROTOLENS_MAX_PIXELS)`;
  }
  if (/unsupported image format/i.test(msg)) {
    const ext = extname(path).toLowerCase();
    if (UNDECODABLE_EXTENSIONS.includes(ext)) return `unsupported format '${ext}' (decoded formats: JPEG, PNG, WebP, TIFF, GIF, AVIF)`;
    return 'not a recognised image (unsupported or corrupt header)';
  }
  if (/permission denied/i.test(msg)) return 'permission denied';
  return corruptReason(path);
}

/**
 * The reason a file whose decode failed is corrupt, from the file itself, never from libvips' message
 * text: that comes from a process-wide error buffer which concurrent decodes overwrite ("Unknown
 * error" in about 1 run in 10 for the same truncated JPEG), and the reason is recorded in manifests
 * and reports, which must not change between runs.
 */
async function corruptReason(path: string): Promise<string> {
  let head: Buffer;
  let tail: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const n = Math.min(size, 64);
      head = Buffer.alloc(n);
      tail = Buffer.alloc(n);
      await fh.read(head, 0, n, 0);
      await fh.read(tail, 0, n, size - n);
    } finally {
      await fh.close();
    }
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  const format = sniffFormat(head);
  if (!format) return 'not a recognised image (unsupported or corrupt header)';
  const meta = await sharp(path, { limitInputPixels: false }).metadata().catch(() => null);
  const what = `${format}${meta?.width && meta?.height ? ` ${meta.width} x ${meta.height}` : ''}`;
  if (format === 'JPEG' && tail.lastIndexOf(Buffer.from([0xff, 0xd9])) < 0) return `truncated ${what} (no end-of-image marker)`;
  if (format === 'PNG' && tail.lastIndexOf(Buffer.from('IEND')) < 0) return `truncated ${what} (no IEND chunk)`;
  if (!meta?.format) return `corrupt ${what}: the header cannot be read`;
  return `corrupt ${what}: the pixel data cannot be decoded`;
}

/** The format a file's first bytes announce, or null. */
function sniffFormat(head: Buffer): string | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'PNG';
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.subarray(0, 6).toString('latin1'))) return 'GIF';
  if (head.length >= 12 && head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'WebP';
  if (head.length >= 4 && (head.subarray(0, 4).equals(Buffer.from([0x49, 0x49, 0x2a, 0x00])) || head.subarray(0, 4).equals(Buffer.from([0x4d, 0x4d, 0x00, 0x2a])))) return 'TIFF';
  if (head.length >= 12 && head.subarray(4, 8).toString('latin1') === 'ftyp') return 'HEIF/AVIF';
  return null;
}

/**
 * Decode a file to 8-bit sRGB RGB at its own (EXIF-oriented) size. Throws `DecodeFailure` when the
 * file is missing, empty, unreadable, corrupt or of an unsupported format.
 */
export async function decodeRgb(path: string, cfg: Pick<PreprocessConfig, 'alpha' | 'exifOrientation' | 'failOn'>): Promise<RgbImage> {
  if (!configured) configureDecoder();
  let out: { data: Buffer; info: OutputInfo };
  try {
    let img = sharp(path, { autoOrient: cfg.exifOrientation, failOn: cfg.failOn, pages: 1, page: 0, limitInputPixels: maxPixels });
    img = cfg.alpha === 'ignore' ? img.removeAlpha() : img.flatten({ background: cfg.alpha === 'white' ? '#ffffff' : '#000000' });
    out = await img.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new DecodeFailure(path, await classify(path, err), { cause: err });
  }
  const { width, height, channels } = out.info;
  const data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  if (channels === 3) return { data, width, height };
  if (channels === 4 || channels === 2 || channels === 1) {
    // Defensive: sharp should already have given 3 channels; keep colour, drop alpha.
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, n = width * height; i < n; i++) {
      const s = i * channels;
      const g = channels <= 2;
      rgb[i * 3] = data[s];
      rgb[i * 3 + 1] = g ? data[s] : data[s + 1];
      rgb[i * 3 + 2] = g ? data[s] : data[s + 2];
    }
    return { data: rgb, width, height };
  }
  throw new DecodeFailure(path, `decoded to ${channels} channels, expected RGB`);
}
