/**
 * One image of the synthetic parts dataset: the creature under a random similarity transform
 * (position, scale, rotation, horizontal flip) over a cluttered muted background, sometimes with an
 * occluder blob over one part, rendered to RGB with sharp (librsvg) and given mild Gaussian noise.
 * Keypoints and the bounding box come from the same transformed vertices that are drawn.
 */
import sharp from 'sharp';
import { Rng } from '../../util/random.ts';
import type { CreatureAttributes } from './attributes.ts';
import { hsl } from './colour.ts';
import {
  applyAffine,
  boundsOf,
  chain,
  fmt,
  rotation,
  scaling,
  svgPoints,
  transformPolygon,
  translate,
  type Affine,
  type Vec,
} from './geometry.ts';
import { buildCreature, canonicalPart, PART_NAMES, type CanonicalPart, type Creature, type Highlight, type PartName } from './creature.ts';

/** Random-scene settings. Defaults in {@link DEFAULT_SCENE}. */
export interface SceneOptions {
  /** Image side in pixels (square images). */
  size: number;
  /** Rotation drawn uniformly from [-rotationDeg, rotationDeg]. */
  rotationDeg: number;
  /** Probability of a horizontal flip (the creature then faces left and shows its left side). */
  flipProbability: number;
  /** Longer side of the creature's box as a fraction of the image side, drawn uniformly from [lo, hi]. */
  bboxFraction: readonly [number, number];
  /** Probability that an occluder blob hides one part. */
  occlusionRate: number;
  /** Standard deviation of the additive Gaussian pixel noise, in 0..255 units. */
  noiseSigma: number;
  /** Number of background clutter items, drawn uniformly from [lo, hi]. */
  clutter: readonly [number, number];
}

export const DEFAULT_SCENE: SceneOptions = {
  size: 96,
  rotationDeg: 25,
  flipProbability: 0.5,
  bboxFraction: [0.5, 0.85],
  occlusionRate: 0.12,
  noiseSigma: 3,
  clutter: [14, 26],
};

/** A part's keypoint in image pixels (continuous coordinates: pixel (i, j) covers [i, i+1) x [j, j+1)). */
export interface PartKeypoint {
  part: PartName;
  x: number;
  y: number;
  /** Inside the image, drawn, and not under the occluder. */
  visible: boolean;
}

/** Axis-aligned box in pixels, CUB style (x, y of the top-left corner, width, height). */
export interface CreatureBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where and how the creature is drawn in one image. */
export interface Placement {
  flipped: boolean;
  rotationDeg: number;
  /** Pixels per canonical unit. */
  scale: number;
  /** The full canonical-to-pixel map. */
  transform: Affine;
}

export interface Occluder {
  /** The part the blob was placed over. */
  target: PartName;
  /** Circles (x, y, r) in pixels whose union is the blob. */
  circles: Array<[number, number, number]>;
  colour: string;
}

/** Everything drawn in one image, before rasterisation. */
export interface ScenePlan {
  size: number;
  attributes: CreatureAttributes;
  bodyColour: string;
  placement: Placement;
  occluder: Occluder | null;
  /** SVG of the background (clutter), drawn under the creature. */
  backgroundSvg: string;
  /** Keypoints of the 15 parts in PART_NAMES order. */
  keypoints: PartKeypoint[];
  bbox: CreatureBox;
  /** Seed of the pixel-noise stream. */
  noiseSeed: number;
  /** The creature's transformed polygons, back to front. */
  creature: Creature;
}

/** A muted colour: low saturation, mid lightness (never a class colour). */
export function mutedColour(rng: Rng): string {
  return hsl(rng.uniform(0, 360), rng.uniform(0.04, 0.22), rng.uniform(0.32, 0.78));
}

/** A per-image body colour: warm greys and browns, jittered. */
export function bodyColour(rng: Rng): string {
  return hsl(rng.uniform(18, 48), rng.uniform(0.08, 0.3), rng.uniform(0.5, 0.74));
}

/** Occluder radius (canonical units) per part: big enough to hide the part's keypoint area. */
const OCCLUDER_RADIUS: Record<CanonicalPart, number> = {
  back: 9,
  beak: 8,
  belly: 9,
  breast: 9,
  crown: 7,
  forehead: 7,
  nape: 7,
  throat: 7,
  tail: 10,
  'near eye': 6,
  'far eye': 6,
  'near wing': 12,
  'far wing': 8,
  'near leg': 7,
  'far leg': 7,
};

/** Compute the placement that maps the canonical creature into the image. */
export function placeCreature(creature: Creature, size: number, flipped: boolean, rotationDeg: number, fraction: number, rng: Rng | null): Placement {
  const orient = chain(rotation(rotationDeg), scaling(flipped ? -1 : 1, 1));
  const b = boundsOf(creature.shapes.map((s) => transformPolygon(orient, s.poly)));
  const scale = (fraction * size) / Math.max(b.maxX - b.minX, b.maxY - b.minY);
  const margin = 1;
  const pick = (lo: number, hi: number) => (rng ? rng.uniform(lo, Math.max(lo, hi)) : (lo + hi) / 2);
  const tx = pick(margin - scale * b.minX, size - margin - scale * b.maxX);
  const ty = pick(margin - scale * b.minY, size - margin - scale * b.maxY);
  return { flipped, rotationDeg, scale, transform: chain(translate(tx, ty), scaling(scale), orient) };
}

/** Transform a canonical creature into pixels and compute its keypoints and tight box. */
export function projectCreature(creature: Creature, placement: Placement, size: number): { creature: Creature; keypoints: PartKeypoint[]; bbox: CreatureBox } {
  const m = placement.transform;
  const shapes = creature.shapes.map((s) => ({ ...s, poly: transformPolygon(m, s.poly) }));
  const anchors = {} as Record<CanonicalPart, Vec | null>;
  for (const [k, v] of Object.entries(creature.anchors) as Array<[CanonicalPart, Vec | null]>) anchors[k] = v ? applyAffine(m, v) : null;
  const b = boundsOf(shapes.map((s) => s.poly));
  const keypoints = PART_NAMES.map((part) => {
    const p = anchors[canonicalPart(part, placement.flipped)];
    if (!p) return { part, x: 0, y: 0, visible: false };
    const inside = p[0] >= 0 && p[1] >= 0 && p[0] < size && p[1] < size;
    return { part, x: p[0], y: p[1], visible: inside };
  });
  return { creature: { shapes, anchors }, keypoints, bbox: { x: b.minX, y: b.minY, width: b.maxX - b.minX, height: b.maxY - b.minY } };
}

function clutterSvg(rng: Rng, size: number, count: number): string {
  const parts: string[] = [];
  const c0 = mutedColour(rng);
  const c1 = mutedColour(rng);
  const gx = fmt(rng.uniform(0, 1));
  parts.push(`<defs><linearGradient id="bg" x1="0" y1="0" x2="${gx}" y2="1"><stop offset="0" stop-color="${c0}"/><stop offset="1" stop-color="${c1}"/></linearGradient></defs>`);
  parts.push(`<rect width="${size}" height="${size}" fill="url(#bg)"/>`);
  const u = (lo: number, hi: number) => fmt(rng.uniform(lo, hi));
  for (let i = 0; i < count; i++) {
    const kind = rng.int(5);
    const colour = mutedColour(rng);
    const op = u(0.45, 1);
    const x = rng.uniform(-0.1, 1.1) * size;
    const y = rng.uniform(-0.1, 1.1) * size;
    if (kind === 0) {
      parts.push(`<ellipse cx="${fmt(x)}" cy="${fmt(y)}" rx="${fmt(rng.uniform(0.03, 0.2) * size)}" ry="${fmt(rng.uniform(0.02, 0.12) * size)}" transform="rotate(${u(0, 180)} ${fmt(x)} ${fmt(y)})" fill="${colour}" fill-opacity="${op}"/>`);
    } else if (kind === 1) {
      const w = rng.uniform(0.05, 0.3) * size;
      const h = rng.uniform(0.03, 0.2) * size;
      parts.push(`<rect x="${fmt(x - w / 2)}" y="${fmt(y - h / 2)}" width="${fmt(w)}" height="${fmt(h)}" transform="rotate(${u(0, 180)} ${fmt(x)} ${fmt(y)})" fill="${colour}" fill-opacity="${op}"/>`);
    } else if (kind === 2) {
      // A branch: a polyline wandering across the image.
      const pts: string[] = [];
      let px = x;
      let py = y;
      let dir = rng.uniform(0, 2 * Math.PI);
      for (let k = 0; k < 3 + rng.int(3); k++) {
        pts.push(`${fmt(px)},${fmt(py)}`);
        dir += rng.uniform(-0.7, 0.7);
        const len = rng.uniform(0.08, 0.25) * size;
        px += len * Math.cos(dir);
        py += len * Math.sin(dir);
      }
      pts.push(`${fmt(px)},${fmt(py)}`);
      parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-opacity="${op}" stroke-width="${u(0.6, 3)}" stroke-linecap="round" stroke-linejoin="round"/>`);
    } else if (kind === 3) {
      // Texture patch: short parallel hatching.
      const ang = rng.uniform(0, Math.PI);
      const n = 4 + rng.int(5);
      const gap = rng.uniform(1.5, 3.5);
      const len = rng.uniform(0.06, 0.18) * size;
      const lines: string[] = [];
      for (let k = 0; k < n; k++) {
        const ox = x + k * gap * -Math.sin(ang);
        const oy = y + k * gap * Math.cos(ang);
        lines.push(`M${fmt(ox)} ${fmt(oy)}l${fmt(len * Math.cos(ang))} ${fmt(len * Math.sin(ang))}`);
      }
      parts.push(`<path d="${lines.join('')}" stroke="${colour}" stroke-opacity="${op}" stroke-width="${u(0.5, 1.2)}" fill="none"/>`);
    } else {
      // Texture patch: a scatter of small dots (grain, gravel).
      const dots: string[] = [];
      const n = 6 + rng.int(10);
      const spread = rng.uniform(0.05, 0.15) * size;
      for (let k = 0; k < n; k++) {
        dots.push(`<circle cx="${fmt(x + rng.uniform(-spread, spread))}" cy="${fmt(y + rng.uniform(-spread, spread))}" r="${u(0.4, 1.3)}"/>`);
      }
      parts.push(`<g fill="${colour}" fill-opacity="${op}">${dots.join('')}</g>`);
    }
  }
  return parts.join('');
}

/**
 * Plan one random image (no pixels yet). `rng` drives every choice; `highlight` recolours one part
 * without changing any random draw (for keypoint checks).
 */
export function planScene(attributes: CreatureAttributes, options: SceneOptions, rng: Rng, highlight?: Highlight): ScenePlan {
  const size = options.size;
  const look = { bodyColour: bodyColour(rng) };
  const canonical = buildCreature(attributes, look, highlight);
  const flipped = rng.next() < options.flipProbability;
  const rot = rng.uniform(-options.rotationDeg, options.rotationDeg);
  const fraction = rng.uniform(options.bboxFraction[0], options.bboxFraction[1]);
  const placement = placeCreature(canonical, size, flipped, rot, fraction, rng);
  const { creature, keypoints, bbox } = projectCreature(canonical, placement, size);
  const clutterCount = options.clutter[0] + rng.int(options.clutter[1] - options.clutter[0] + 1);
  const backgroundSvg = clutterSvg(rng.fork(1), size, clutterCount);
  let occluder: Occluder | null = null;
  if (rng.next() < options.occlusionRate) {
    const candidates = keypoints.filter((k) => k.visible);
    const target = candidates[rng.int(candidates.length)];
    const r = OCCLUDER_RADIUS[canonicalPart(target.part, flipped)] * placement.scale;
    const cx = target.x + rng.uniform(-0.25, 0.25) * r;
    const cy = target.y + rng.uniform(-0.25, 0.25) * r;
    const circles: Array<[number, number, number]> = [[cx, cy, r]];
    for (let k = 0; k < 2; k++) {
      const a = rng.uniform(0, 2 * Math.PI);
      const d = rng.uniform(0.5, 0.9) * r;
      circles.push([cx + d * Math.cos(a), cy + d * Math.sin(a), rng.uniform(0.45, 0.75) * r]);
    }
    occluder = { target: target.part, circles, colour: mutedColour(rng) };
    for (const k of keypoints) {
      if (k.visible && circles.some(([x, y, rr]) => Math.hypot(k.x - x, k.y - y) <= rr)) k.visible = false;
    }
  }
  return {
    size,
    attributes,
    bodyColour: look.bodyColour,
    placement,
    occluder,
    backgroundSvg,
    keypoints,
    bbox,
    noiseSeed: Math.floor(rng.next() * 0x100000000),
    creature,
  };
}

/** SVG of the (already transformed) creature polygons. */
export function creatureSvg(creature: Creature): string {
  return creature.shapes.map((s) => `<polygon points="${svgPoints(s.poly)}" fill="${s.fill}"/>`).join('');
}

/** Full SVG document of a scene. */
export function sceneSvg(plan: ScenePlan): string {
  const occ = plan.occluder
    ? `<g fill="${plan.occluder.colour}">${plan.occluder.circles.map(([x, y, r]) => `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${fmt(r)}"/>`).join('')}</g>`
    : '';
  return svgDocument(plan.size, plan.size, plan.backgroundSvg + creatureSvg(plan.creature) + occ);
}

export function svgDocument(width: number, height: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
}

/** Rasterise an SVG document to packed RGB (no alpha). */
export async function rasterise(svg: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

let normalTable: Float32Array | null = null;
/** 65536 standard normal draws (fixed seed), indexed by 16-bit halves of the noise stream. */
function normals(): Float32Array {
  if (!normalTable) {
    const rng = new Rng(0x6e6f6973);
    normalTable = Float32Array.from({ length: 65536 }, () => rng.normal());
  }
  return normalTable;
}

/**
 * Add N(0, sigma) noise to every channel in place, clamping to 0..255. Seeded: each 32-bit draw of
 * the stream picks two values from a fixed table of 65536 normal samples.
 */
export function addNoise(rgb: Buffer, sigma: number, seed: number): void {
  if (sigma <= 0) return;
  const table = normals();
  const rng = new Rng(seed);
  for (let i = 0; i < rgb.length; i += 2) {
    const r = Math.floor(rng.next() * 4294967296);
    const v0 = Math.round(rgb[i] + sigma * table[r >>> 16]);
    rgb[i] = v0 < 0 ? 0 : v0 > 255 ? 255 : v0;
    if (i + 1 < rgb.length) {
      const v1 = Math.round(rgb[i + 1] + sigma * table[r & 0xffff]);
      rgb[i + 1] = v1 < 0 ? 0 : v1 > 255 ? 255 : v1;
    }
  }
}

/**
 * The scene's foreground mask as CUB's segmentations/ hold it: one 8-bit channel, 255 on the
 * creature's visible pixels (its polygons, less the occluder), 0 elsewhere, anti-aliased edges in
 * between (CUB's masks are soft too; readers threshold them).
 */
export async function renderMask(plan: ScenePlan): Promise<Buffer> {
  const white = creatureSvg({ ...plan.creature, shapes: plan.creature.shapes.map((sh) => ({ ...sh, fill: '#ffffff' })) });
  const occ = plan.occluder ? `<g fill="#000000">${plan.occluder.circles.map(([x, y, r]) => `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${fmt(r)}"/>`).join('')}</g>` : '';
  const { data } = await rasterise(svgDocument(plan.size, plan.size, `<rect width="${plan.size}" height="${plan.size}" fill="#000000"/>${white}${occ}`));
  const mask = Buffer.alloc(plan.size * plan.size);
  for (let i = 0; i < mask.length; i++) mask[i] = data[i * 3];
  return mask;
}

/** Render a planned scene to packed RGB (with noise). */
export async function renderScene(plan: ScenePlan, noiseSigma: number): Promise<Buffer> {
  const { data } = await rasterise(sceneSvg(plan));
  addNoise(data, noiseSigma, plan.noiseSeed);
  return data;
}

/** Options of {@link renderCreature}: a single creature on a plain background, for docs and checks. */
export interface CreatureView {
  /** Image side in pixels. Default 256. */
  size: number;
  flipped: boolean;
  rotationDeg: number;
  /** Longer side of the creature's box over the image side. Default 0.85. */
  fraction: number;
  background: string;
  bodyColour: string;
  /** Recolour one part (debug and keypoint checks). */
  highlight?: Highlight;
  /** Draw the keypoints of visible parts as small marks. Default false. */
  keypoints: boolean;
}

export interface RenderedCreature {
  width: number;
  height: number;
  /** Packed RGB, row-major. */
  rgb: Buffer;
  keypoints: PartKeypoint[];
  bbox: CreatureBox;
  svg: string;
  /** PNG encoding of `rgb`. */
  png(): Promise<Buffer>;
}

/** Render one creature with the given attributes, centred, on a plain background, without noise. */
export async function renderCreature(attributes: CreatureAttributes, view: Partial<CreatureView> = {}): Promise<RenderedCreature> {
  const v: CreatureView = { size: 256, flipped: false, rotationDeg: 0, fraction: 0.85, background: '#ffffff', bodyColour: '#b8a48c', keypoints: false, ...view };
  const canonical = buildCreature(attributes, { bodyColour: v.bodyColour }, v.highlight);
  const placement = placeCreature(canonical, v.size, v.flipped, v.rotationDeg, v.fraction, null);
  const { creature, keypoints, bbox } = projectCreature(canonical, placement, v.size);
  const marks = v.keypoints ? keypointMarksSvg(keypoints, Math.max(1.5, v.size / 90)) : '';
  const svg = svgDocument(v.size, v.size, `<rect width="${v.size}" height="${v.size}" fill="${v.background}"/>${creatureSvg(creature)}${marks}`);
  const { data, width, height } = await rasterise(svg);
  return {
    width,
    height,
    rgb: data,
    keypoints,
    bbox,
    svg,
    png: () => sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer(),
  };
}

/** Distinct marker colours for the 15 parts (PART_NAMES order), for debug drawings. */
export const PART_MARK_COLOURS = [
  '#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6',
  '#bfef45', '#fabed4', '#469990', '#dcbeff', '#9a6324', '#fffac8', '#800000',
] as const;

/** SVG marks (a dot with a dark ring) at each visible keypoint. */
export function keypointMarksSvg(keypoints: readonly PartKeypoint[], radius: number, offset: Vec = [0, 0]): string {
  return keypoints
    .map((k, i) =>
      k.visible
        ? `<circle cx="${fmt(k.x + offset[0])}" cy="${fmt(k.y + offset[1])}" r="${fmt(radius)}" fill="${PART_MARK_COLOURS[i]}" stroke="#000000" stroke-width="${fmt(radius / 3)}"/>`
        : '',
    )
    .join('');
}

