/**
 * What the combined view draws, without drawing it: the per-pixel colours of the strongest prototype
 * as an RGBA layer over the image, and the legend (colour, label, contribution per prototype) as an
 * SVG document placed under the picture. combined.ts composes them with sharp, the browser
 * (src/site/browser/) on a canvas.
 */
import { InputError } from '../util/errors.ts';
import { normaliseMap, upsampleMap } from './heatmap.ts';
import { checkRange, checkRgbImage, escapeXml, scaledSize, SVG_FONT, svgDocument } from './layers.ts';
import { CATEGORICAL_PALETTE, categoricalColour, toHex } from './palette.ts';

/** k maps of one image at feature resolution: `data` is k x height x width, row-major. */
export interface MapStack {
  data: Float32Array;
  k: number;
  height: number;
  width: number;
}

/** Options of `combinedView` (and of `strongestPrototype` for the first three). */
export interface CombinedViewOptions {
  /**
   * What "strongest" compares: `'raw'` (default) the upsampled map values themselves (they share one
   * scale, the logit's: a map's mean is its contribution); `'normalised'` each map min-max normalised
   * first, so a pixel goes to the prototype for which it is relatively most active.
   */
  compare?: 'raw' | 'normalised';
  /**
   * true (default): pixels where every prototype's raw upsampled value is <= 0 (no positive evidence
   * for any prototype) stay uncoloured. false: every pixel is coloured.
   */
  positiveOnly?: boolean;
  /**
   * `'strength'` (default): alpha = opacity x (winning value / the largest value with which that
   * same prototype wins anywhere in the picture), clamped to [0, 1]: each prototype's region is
   * opaque at its own peak and fades towards its edges, so weak prototypes stay visible.
   * `'constant'`: alpha = opacity for every coloured pixel.
   */
  alpha?: 'strength' | 'constant';
  /** Largest alpha, in [0, 1]; default 0.6. */
  opacity?: number;
  /** Colours, `#rrggbb`, one per prototype in order (cycled); default CATEGORICAL_PALETTE. */
  palette?: readonly string[];
  /** Draw the legend under the picture; default true. */
  legend?: boolean;
  /** Legend heading; default 'Strongest prototype per pixel'. */
  legendTitle?: string;
  /** Legend font size in pixels; default 12 (grown with pictures wider than 320 px, up to x `scale`). */
  fontSize?: number;
  /** Picture size as a multiple of the image size; default 1. */
  scale?: number;
}

/** Defaults of `CombinedViewOptions`. */
export const COMBINED_DEFAULTS = {
  compare: 'raw',
  positiveOnly: true,
  alpha: 'strength',
  opacity: 0.6,
  legend: true,
  legendTitle: 'Strongest prototype per pixel',
  fontSize: 12,
  scale: 1,
} as const;

/** Per-pixel assignment of the combined view. */
export interface PixelAssignment {
  /** Winning prototype index per pixel (outH x outW), -1 where uncoloured. Ties go to the lower index. */
  winner: Int16Array;
  /** Strength in [0, 1] per pixel (see `CombinedViewOptions.alpha`, 'strength'); 0 where uncoloured. */
  strength: Float32Array;
}

function checkStack(maps: MapStack): void {
  const { data, k, height, width } = maps ?? ({} as MapStack);
  if (!Number.isInteger(k) || k < 1 || k > 32767) throw new InputError(`combinedView maps: k must be an integer in [1, 32767], got ${k}`);
  if (!(data instanceof Float32Array) || data.length !== k * height * width) {
    throw new InputError(`combinedView maps: data must be a Float32Array of k x height x width = ${k} x ${height} x ${width} values, got ${data?.length}`);
  }
}

/**
 * Which prototype is strongest at each pixel of the picture (outW x outH): each map upsampled
 * bicubically, compared as `opts.compare` says.
 */
export function strongestPrototype(maps: MapStack, outW: number, outH: number, opts: Pick<CombinedViewOptions, 'compare' | 'positiveOnly'> = {}): PixelAssignment {
  checkStack(maps);
  const compare = opts.compare ?? COMBINED_DEFAULTS.compare;
  if (compare !== 'raw' && compare !== 'normalised') throw new InputError(`combinedView compare: expected 'raw' or 'normalised', got '${compare}'`);
  const positiveOnly = opts.positiveOnly ?? COMBINED_DEFAULTS.positiveOnly;
  const { k, height: mh, width: mw } = maps;
  const n = outW * outH;
  const raw: Float32Array[] = [];
  for (let i = 0; i < k; i++) raw.push(upsampleMap(maps.data.subarray(i * mh * mw, (i + 1) * mh * mw), mh, mw, outW, outH));
  const cmp = compare === 'raw' ? raw : raw.map((m) => normaliseMap(m, 'per-map'));
  const winner = new Int16Array(n);
  const best = new Float32Array(n);
  const anyPositive = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    let b = 0;
    let bv = cmp[0][p];
    let pos = raw[0][p] > 0;
    for (let i = 1; i < k; i++) {
      if (cmp[i][p] > bv) {
        bv = cmp[i][p];
        b = i;
      }
      if (raw[i][p] > 0) pos = true;
    }
    winner[p] = b;
    best[p] = bv;
    anyPositive[p] = pos ? 1 : 0;
  }
  for (let p = 0; p < n; p++) if (positiveOnly && !anyPositive[p]) winner[p] = -1;
  const top = new Float64Array(k);
  for (let p = 0; p < n; p++) if (winner[p] >= 0 && best[p] > top[winner[p]]) top[winner[p]] = best[p];
  const strength = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const b = winner[p];
    if (b < 0) continue;
    const s = top[b] > 0 ? best[p] / top[b] : 0;
    strength[p] = s < 0 ? 0 : s > 1 ? 1 : s;
  }
  return { winner, strength };
}

/** Average advance of a character in em (DejaVu Sans, generous), regular and bold: sizes the legend. */
const TEXT_EM = 0.62;
const BOLD_TEXT_EM = 0.7;

/** Signed short number for legends and captions: '+1.23', '-0.0456', '+0'. */
export function formatSigned(v: number, digits = 3): string {
  if (v === 0) return '+0';
  const s = Math.abs(v) >= 1e5 || Math.abs(v) < 1e-4 ? v.toExponential(digits - 1) : v.toPrecision(digits);
  return v > 0 ? `+${s}` : s;
}

function legendSvg(width: number, labels: readonly string[], contributions: ArrayLike<number>, colours: readonly string[], fs: number, title: string, note: string | null): { svg: string; height: number } {
  const pad = Math.round(fs * 0.6);
  const rowH = Math.round(fs * 1.6);
  const sw = Math.round(fs);
  const widest = Math.max(0, ...labels.map((l, i) => `${l}  ${formatSigned(contributions[i])}`.length));
  const colW = Math.max(Math.round(fs * 15), sw + Math.round(fs * 0.5) + Math.ceil(widest * TEXT_EM * fs) + pad);
  const cols = Math.max(1, Math.floor((width - pad) / colW));
  const rows = Math.ceil(labels.length / cols);
  const parts: string[] = [];
  let y = pad + fs;
  parts.push(`<text x="${pad}" y="${y}" font-family="${SVG_FONT}" font-size="${fs}" font-weight="bold" fill="#111111">${escapeXml(title)}</text>`);
  y += Math.round(fs * 0.5);
  for (let i = 0; i < labels.length; i++) {
    const c = Math.floor(i / rows);
    const r = i % rows;
    const x0 = pad + c * colW;
    const y0 = y + r * rowH + Math.round((rowH - sw) / 2);
    parts.push(`<rect x="${x0}" y="${y0}" width="${sw}" height="${sw}" fill="${colours[i]}" stroke="#333333" stroke-width="1"/>`);
    const tx = x0 + sw + Math.round(fs * 0.5);
    const ty = y + r * rowH + Math.round(rowH / 2 + fs * 0.35);
    const text = `${labels[i]}  ${formatSigned(contributions[i])}`;
    parts.push(`<text x="${tx}" y="${ty}" font-family="${SVG_FONT}" font-size="${fs}" fill="#111111" shape-rendering="auto">${escapeXml(text)}</text>`);
  }
  y += rows * rowH;
  if (note) {
    y += Math.round(fs * 0.2) + fs;
    parts.push(`<text x="${pad}" y="${y}" font-family="${SVG_FONT}" font-size="${Math.round(fs * 0.9)}" fill="#444444">${escapeXml(note)}</text>`);
  }
  const height = y + pad;
  return { svg: svgDocument(width, height, `<rect width="${width}" height="${height}" fill="#ffffff"/>` + parts.join('')), height };
}

/** The combined view's parts: the picture (width x height) with its colour layer, and the legend under it. */
export interface CombinedLayers {
  /** Size of the picture part (the image drawn at the scale). */
  width: number;
  height: number;
  /** The strongest-prototype colours, width x height RGBA. */
  rgba: Uint8Array;
  /** The legend, an SVG document legendWidth x legendHeight placed at (0, height); null without legend. */
  legend: { svg: string; width: number; height: number } | null;
}

/**
 * The parts of the combined view of one image (see `combinedView`): the picture's colour layer and
 * the legend. The whole picture is max(width, legend width) x (height + legend height), white where
 * neither covers it.
 * @throws InputError on sizes that do not match or bad options.
 */
export function combinedLayers(
  imageRgb: Uint8Array,
  w: number,
  h: number,
  maps: MapStack,
  contributions: ArrayLike<number>,
  labels: readonly string[],
  opts: CombinedViewOptions = {},
): CombinedLayers {
  checkRgbImage(imageRgb, w, h, 'combinedView');
  checkStack(maps);
  if (contributions.length !== maps.k) throw new InputError(`combinedView: ${contributions.length} contributions for ${maps.k} maps, expected one per map`);
  if (labels.length !== maps.k) throw new InputError(`combinedView: ${labels.length} labels for ${maps.k} maps, expected one per map`);
  for (let i = 0; i < maps.k; i++) {
    if (!Number.isFinite(contributions[i])) throw new InputError(`combinedView: contribution ${i} is ${contributions[i]}, expected a finite number`);
  }
  const out = scaledSize(w, h, opts.scale ?? COMBINED_DEFAULTS.scale, 'combinedView');
  const opacity = opts.opacity ?? COMBINED_DEFAULTS.opacity;
  checkRange(opacity, 0, 1, 'combinedView opacity');
  const alphaMode = opts.alpha ?? COMBINED_DEFAULTS.alpha;
  if (alphaMode !== 'strength' && alphaMode !== 'constant') throw new InputError(`combinedView alpha: expected 'strength' or 'constant', got '${alphaMode}'`);
  const palette = opts.palette ?? CATEGORICAL_PALETTE;
  const colours = Array.from({ length: maps.k }, (_, i) => categoricalColour(i, palette));

  const { winner, strength } = strongestPrototype(maps, out.width, out.height, opts);
  const n = out.width * out.height;
  const rgba = new Uint8Array(n * 4);
  let uncoloured = 0;
  for (let p = 0; p < n; p++) {
    const b = winner[p];
    if (b < 0) {
      uncoloured++;
      continue;
    }
    const c = colours[b];
    rgba[p * 4] = c[0];
    rgba[p * 4 + 1] = c[1];
    rgba[p * 4 + 2] = c[2];
    rgba[p * 4 + 3] = Math.round(255 * opacity * (alphaMode === 'constant' ? 1 : strength[p]));
  }
  if (!(opts.legend ?? COMBINED_DEFAULTS.legend)) return { width: out.width, height: out.height, rgba, legend: null };
  // The legend grows with the picture, not with the scale alone: a small input shown 4x large keeps
  // a legend of normal size under it (the font is scaled by at most picture width / 320 px).
  const fs = (opts.fontSize ?? COMBINED_DEFAULTS.fontSize) * Math.max(1, Math.min(opts.scale ?? 1, out.width / 320));
  checkRange(fs, 4, 200, 'combinedView fontSize x scale');
  // wide enough for the bold title and one legend column (text widths estimated from the font's em)
  const title = opts.legendTitle ?? COMBINED_DEFAULTS.legendTitle;
  const widestLabel = Math.max(0, ...labels.map((l, i) => `${l}  ${formatSigned(contributions[i])}`.length));
  const textWidth = Math.ceil(Math.max(title.length * BOLD_TEXT_EM, widestLabel * TEXT_EM + 1.5) * fs) + Math.round(fs * 1.2);
  const width = Math.max(out.width, Math.round(fs * 16), textWidth);
  const note = uncoloured > 0 ? 'Uncoloured: every map <= 0' : null;
  const legend = legendSvg(width, labels, contributions, colours.map(toHex), Math.round(fs), title, note);
  return { width: out.width, height: out.height, rgba, legend: { svg: legend.svg, width, height: legend.height } };
}
