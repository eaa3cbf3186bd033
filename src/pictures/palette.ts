/**
 * Colours for pictures: the categorical palette of the combined view and CSS-style colour parsing.
 */
import { InputError } from '../util/errors.ts';

/** An 8-bit sRGB colour. */
export type Rgb = readonly [number, number, number];

/**
 * Twenty distinct categorical colours, one per prototype (prototype i gets entry i mod 20).
 * The first seven are the Okabe-Ito palette (Okabe and Ito, "Color Universal Design", 2008) without
 * its black: distinguishable under protanopia, deuteranopia and tritanopia. The other thirteen were
 * added greedily, each maximising its smallest CIELAB distance to the colours before it, from Kelly's
 * 22 colours of maximum contrast, Paul Tol's schemes and a few common extras; black, white and grey
 * were excluded because they read as shadow, highlight or "no prototype". Smallest pairwise CIELAB
 * (Delta E 1976) distance in the list: 26.4.
 */
export const CATEGORICAL_PALETTE: readonly string[] = [
  '#E69F00', // orange
  '#56B4E9', // sky blue
  '#009E73', // bluish green
  '#F0E442', // yellow
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#CC79A7', // reddish purple
  '#000075', // navy
  '#F032E6', // magenta
  '#654522', // yellowish brown
  '#BE0032', // red
  '#C2B280', // buff
  '#F99379', // yellowish pink
  '#AAFFC3', // mint
  '#2CA02C', // green
  '#DCBEFF', // lavender
  '#882255', // wine
  '#9467BD', // purple
  '#8DB600', // yellow green
  '#882D17', // reddish brown
];

/** Parse `#rgb` or `#rrggbb` (case-insensitive). `what` names the option in the error message. */
export function parseHexColour(hex: string, what = 'colour'): Rgb {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new InputError(`${what}: expected a colour like '#d55e00' or '#f00', got '${hex}'`);
  const s = m[1].length === 3 ? [...m[1]].map((c) => c + c).join('') : m[1];
  return [parseInt(s.slice(0, 2), 16), parseInt(s.slice(2, 4), 16), parseInt(s.slice(4, 6), 16)];
}

/** The colour of category i (0-based) in `palette` (default CATEGORICAL_PALETTE), cycling past its end. */
export function categoricalColour(i: number, palette: readonly string[] = CATEGORICAL_PALETTE): Rgb {
  if (palette.length === 0) throw new InputError('palette: expected at least one colour, got an empty list');
  return parseHexColour(palette[((i % palette.length) + palette.length) % palette.length], `palette[${i % palette.length}]`);
}

/** `#rrggbb` (lower case) of an 8-bit colour. */
export function toHex(c: Rgb): string {
  return '#' + c.map((v) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0')).join('');
}
