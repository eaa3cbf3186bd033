/**
 * CUB foreground masks (segmentations/<class>/<image>.png): read as the comprehensiveness reference
 * reads them (`torchvision.io.read_image`, unchanged, first channel when there are several), one
 * 8-bit value per source pixel.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../util/errors.ts';

/** Whether the dataset at `root` has CUB's segmentations/ folder. */
export async function hasSegmentations(root: string): Promise<boolean> {
  return stat(join(root, 'segmentations')).then((st) => st.isDirectory(), () => false);
}

export interface Mask {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The mask's first channel. @throws InputError naming the file when it is missing or not an image. */
export async function loadMask(path: string): Promise<Mask> {
  try {
    const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`segmentation mask ${path}: ${code === 'ENOENT' || /missing|no such file/i.test((e as Error).message) ? 'file not found' : `cannot be decoded (${(e as Error).message})`}; comprehensiveness needs one mask per image (CUB segmentations/<class>/<image>.png)`);
  }
}
