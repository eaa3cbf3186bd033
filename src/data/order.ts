/**
 * Ordering and naming rules for file listings: Unicode code-point order (Python's `sorted` on str,
 * which torchvision's ImageFolder uses) and the set of recognised image extensions.
 */

/** Map a UTF-16 code unit so that comparing mapped units orders strings by code point. */
function codePointKey(u: number): number {
  if (u >= 0xd800 && u <= 0xdfff) return u + 0x2000; // surrogates encode code points above U+FFFF
  if (u >= 0xe000) return u - 0x800;
  return u;
}

/**
 * Compare two strings by Unicode code points (not UTF-16 code units, which is what
 * `Array.prototype.sort` uses; the two differ only between astral characters and U+E000..U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointKey(x) - codePointKey(y);
  }
  return a.length - b.length;
}

/** Sort strings in code-point order (returns a new array). */
export function sortCodePoints(names: Iterable<string>): string[] {
  return [...names].sort(compareCodePoints);
}

/**
 * Extensions recognised as images, lower case, compared case-insensitively. The first group is
 * decoded by sharp; BMP and the PNM family are listed (as torchvision does) so that a dataset of them
 * fails loudly, image by image, instead of looking empty.
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif',
  '.bmp', '.ppm', '.pgm', '.pbm', '.pnm',
];

/** Extensions of formats this build of sharp cannot decode. */
export const UNDECODABLE_EXTENSIONS: readonly string[] = ['.bmp', '.ppm', '.pgm', '.pbm', '.pnm'];

/** Whether a file name has a recognised image extension (case-insensitive). */
export function isImageName(name: string): boolean {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return false;
  return IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}

/** Hidden entries (name starting with '.') are ignored by every listing. */
export function isHidden(name: string): boolean {
  return name.startsWith('.');
}
