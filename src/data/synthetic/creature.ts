/**
 * The drawn creature in its canonical frame: a bird seen from its right side, facing +x (right),
 * y down, body centred at the origin, about 115 x 75 units. Every shape is a polygon tagged with the
 * part it belongs to, listed back to front (painter's order), and each part has an anchor point (its
 * keypoint) chosen inside the part's visible area. The scene applies one affine map to the shapes
 * and to the anchors, so keypoints are exact.
 *
 * Sides: facing right, the creature shows its right side, so the near eye/wing/leg are its right
 * ones; the far eye is hidden by the head, the far wing shows above the back, the far leg behind
 * the near leg. When the scene flips the drawing horizontally, the creature faces left and shows
 * its left side: the near parts become the left ones (see {@link sidePart}).
 */
import type { CreatureAttributes } from './attributes.ts';
import { PALETTE } from './attributes.ts';
import { darken, lighten, luma } from './colour.ts';
import {
  clipHalfPlane,
  clipWedge,
  distanceToBoundary,
  pointInPolygon,
  ellipse,
  lerp,
  quadBezier,
  rayExit,
  rotationAbout,
  roundedRect,
  thickSegment,
  transformPolygon,
  chain,
  translate,
  type Polygon,
  type Vec,
} from './geometry.ts';

/** The 15 part names, in CUB-200-2011's order (parts/parts.txt ids are 1 + index). */
export const PART_NAMES = [
  'back',
  'beak',
  'belly',
  'breast',
  'crown',
  'forehead',
  'left eye',
  'left leg',
  'left wing',
  'nape',
  'right eye',
  'right leg',
  'right wing',
  'tail',
  'throat',
] as const;
export type PartName = (typeof PART_NAMES)[number];

/** Parts named by the side they are on in the drawing (near = towards the viewer). */
export type CanonicalPart =
  | 'back'
  | 'beak'
  | 'belly'
  | 'breast'
  | 'crown'
  | 'forehead'
  | 'nape'
  | 'throat'
  | 'tail'
  | 'near eye'
  | 'far eye'
  | 'near wing'
  | 'far wing'
  | 'near leg'
  | 'far leg';

/** The canonical part drawn as `part` when the drawing is (flipped) or not. */
export function canonicalPart(part: PartName, flipped: boolean): CanonicalPart {
  const m = /^(left|right) (eye|wing|leg)$/.exec(part);
  if (!m) return part as CanonicalPart;
  const near = (m[1] === 'right') !== flipped;
  return `${near ? 'near' : 'far'} ${m[2]}` as CanonicalPart;
}

/** The anatomical part name of a canonical part when the drawing is (flipped) or not. */
export function sidePart(part: CanonicalPart, flipped: boolean): PartName {
  const m = /^(near|far) (eye|wing|leg)$/.exec(part);
  if (!m) return part as PartName;
  const right = (m[1] === 'near') !== flipped;
  return `${right ? 'right' : 'left'} ${m[2]}` as PartName;
}

/** One filled polygon of the creature. */
export interface Shape {
  poly: Polygon;
  /** Fill colour, or null for a region drawn only when its part is highlighted. */
  fill: string | null;
  /** The part this polygon belongs to (recoloured when that part is highlighted), or null. */
  part: CanonicalPart | null;
}

/** Per-image look that is not a class attribute. */
export interface Appearance {
  /** Body colour (muted; jittered per image). */
  bodyColour: string;
}

export interface Creature {
  /** Polygons back to front. */
  shapes: Shape[];
  /** Keypoint of each part in the canonical frame; null for a part not drawn (the far eye). */
  anchors: Record<CanonicalPart, Vec | null>;
}

/** Optional debug recolouring: every polygon of `part` (including its highlight-only region) gets `colour`. */
export interface Highlight {
  part: CanonicalPart;
  colour: string;
}

const HEAD_CENTRE: Vec = [27, -19];
const BODY = { rx: 25, ry: 16 };
/** Below this y the body is breast/belly, above it back. Breast is in front of BREAST_X. */
const BACK_Y = -3;
const BREAST_X = 5;

function headOutline(shape: CreatureAttributes['headShape']): Vec[] {
  const [cx, cy] = HEAD_CENTRE;
  if (shape === 'round') return ellipse(cx, cy, 11, 11, 44);
  if (shape === 'square') return roundedRect(cx, cy, 21, 20, 4.5, 6);
  return ellipse(cx, cy, 14, 8.5, 44);
}

/** A point inside the head outline along direction `deg` at `frac` of the way to the outline. */
function headPoint(outline: Polygon, deg: number, frac: number): Vec {
  return lerp(HEAD_CENTRE, rayExit(outline, HEAD_CENTRE, deg), frac);
}

/** Head regions: wedges of directions from the head centre (degrees, y down: -90 is up). */
const HEAD_REGIONS = {
  crown: { from: -120, to: -70, at: -95, frac: 0.68 },
  forehead: { from: -70, to: -35, at: -55, frac: 0.68 },
  nape: { from: 165, to: 215, at: 195, frac: 0.62 },
  throat: { from: 45, to: 105, at: 72, frac: 0.62 },
} as const;

function wingOutline(): Vec[] {
  const shoulder: Vec = [14, -5];
  const tip: Vec = [-28, 4];
  const upper = quadBezier(shoulder, [-2, -15], tip, 16);
  const lower = quadBezier(tip, [-4, 8], shoulder, 16);
  return [...upper, ...lower.slice(1, -1)];
}

function tailOutline(shape: CreatureAttributes['tailShape']): { poly: Vec[]; anchor: Vec } {
  switch (shape) {
    case 'fan': {
      // A spread fan: a wedge from the rump with five rounded feather tips.
      const apex: Vec = [-16, -2];
      const poly: Vec[] = [[-18, -7]];
      const lobes = 5;
      for (let i = 0; i <= lobes * 4; i++) {
        const deg = 180 - 38 + (76 * i) / (lobes * 4);
        const r = 33 - 4 * Math.abs(Math.sin((Math.PI * i) / 4)) ** 0.8;
        const t = (deg * Math.PI) / 180;
        poly.push([apex[0] + r * Math.cos(t), apex[1] + r * Math.sin(t)]);
      }
      poly.push([-18, 3]);
      return { poly, anchor: [-34, -2] };
    }
    case 'fork':
      return {
        poly: [[-18, -6], [-33, -7], [-52, -16], [-47, -7], [-41, -3], [-50, 9], [-33, 2], [-18, 2]],
        anchor: [-31, -2.5],
      };
    case 'pointed':
      return { poly: [[-18, -7], [-31, -7], [-52, -2], [-31, 3], [-18, 3]], anchor: [-31, -2] };
    case 'long':
      return {
        poly: [[-18, -6.5], [-40, -5], [-63, -4], [-66, -2], [-63, 0], [-40, 1.5], [-18, 2.5]],
        anchor: [-38, -1.8],
      };
  }
}

function beakOutline(shape: CreatureAttributes['beakShape'], head: Polygon): { poly: Vec[]; anchor: Vec } {
  const base = lerp(HEAD_CENTRE, rayExit(head, HEAD_CENTRE, 4), 0.82);
  const axisDeg = 8;
  const r = (axisDeg * Math.PI) / 180;
  const u: Vec = [Math.cos(r), Math.sin(r)];
  const v: Vec = [-Math.sin(r), Math.cos(r)];
  const at = (a: number, b: number): Vec => [base[0] + a * u[0] + b * v[0], base[1] + a * u[1] + b * v[1]];
  // Local coordinates (a along the beak, b across it, +b downwards); base sits inside the head.
  let local: Vec[];
  let anchor: Vec;
  if (shape === 'cone') {
    local = [[0, -4], [13, 0.5], [0, 4]];
    anchor = [6.5, 0.2];
  } else if (shape === 'long') {
    local = [[0, -2.8], [23, 0.4], [0, 2.8]];
    anchor = [9, 0.1];
  } else {
    local = [[0, -4.5], ...quadBezier([0, -4.5], [14, -5], [14, 5], 8).slice(1), [9, 1.5], [0, 4]];
    anchor = [6.5, -0.5];
  }
  return { poly: local.map(([a, b]) => at(a, b)), anchor: at(anchor[0], anchor[1]) };
}

function crestOutline(head: Polygon): Vec[] {
  const p = (deg: number, extra: number): Vec => {
    const edge = rayExit(head, HEAD_CENTRE, deg);
    const dx = edge[0] - HEAD_CENTRE[0];
    const dy = edge[1] - HEAD_CENTRE[1];
    const len = Math.hypot(dx, dy);
    return [edge[0] + (dx / len) * extra, edge[1] + (dy / len) * extra];
  };
  return [HEAD_CENTRE, p(-75, -3), p(-98, 10), p(-112, 2), p(-130, 12), p(-143, 2), p(-160, 10), p(-172, -3)];
}

/** Spot centres on the wing (canonical frame). */
const WING_SPOTS: Vec[] = [[6, -3], [-3, -6], [-3, 2], [-12, -3], [-20, 1]];

/** Build the creature with the given class attributes and per-image appearance. */
export function buildCreature(attrs: CreatureAttributes, look: Appearance, highlight?: Highlight): Creature {
  const shapes: Shape[] = [];
  const add = (poly: Polygon, fill: string | null, part: CanonicalPart | null) => {
    const hl = highlight && part === highlight.part;
    const f = hl ? highlight.colour : fill;
    if (f !== null) shapes.push({ poly, fill: f, part });
  };
  const body = look.bodyColour;
  const legColour = PALETTE.legColour[attrs.legColour];
  const wingColour = PALETTE.wingColour[attrs.wingColour];
  const headColour = PALETTE.headColour[attrs.headColour];

  // Legs (behind the body): shank plus three toes. Far leg darker and a little behind.
  const leg = (x0: number, colour: string, part: CanonicalPart) => {
    const top: Vec = [x0, 10];
    const foot: Vec = [x0 + 2, 30];
    add(thickSegment(top, foot, 2.3), colour, part);
    for (const toe of [[7, 1], [5.5, 4], [-3.5, 2]] as Vec[]) add(thickSegment(foot, [foot[0] + toe[0], foot[1] + toe[1]], 1.2), colour, part);
    return lerp(top, foot, 0.62);
  };
  const farLeg = leg(-6, darken(legColour, 0.25), 'far leg');
  const nearLeg = leg(5, legColour, 'near leg');

  // Tail (behind the body), a darker shade of the body colour: its shape is the class cue.
  const tail = tailOutline(attrs.tailShape);
  add(tail.poly, darken(body, 0.35), 'tail');

  // Far wing: the wing raised behind the back, darker, plain.
  const wing = wingOutline();
  const farWing = transformPolygon(chain(translate(0, -8), rotationAbout(18, [14, -5])), wing);
  add(farWing, darken(wingColour, 0.3), 'far wing');

  // Body: base ellipse in the belly shade, back darker on top, breast lighter in front.
  const bodyPoly = ellipse(0, 0, BODY.rx, BODY.ry, 48);
  add(bodyPoly, lighten(body, 0.1), null);
  const lower = clipHalfPlane(bodyPoly, [0, -1], -BACK_Y);
  add(clipHalfPlane(bodyPoly, [0, 1], BACK_Y), darken(body, 0.18), 'back');
  add(clipHalfPlane(lower, [-1, 0], -BREAST_X), lighten(body, 0.35), 'breast');
  add(clipHalfPlane(lower, [1, 0], BREAST_X), null, 'belly');

  // Near wing with its pattern.
  add(wing, wingColour, 'near wing');
  const patternColour = luma(wingColour) < 0.45 ? '#f1efe6' : '#1c1c1c';
  if (attrs.wingPattern === 'stripes') {
    for (const x of [-19, -9, 1]) {
      add(clipHalfPlane(clipHalfPlane(wing, [1, 0.35], x + 3.2), [-1, -0.35], -x), patternColour, 'near wing');
    }
  } else if (attrs.wingPattern === 'spots') {
    for (const [x, y] of WING_SPOTS) add(ellipse(x, y, 2.3, 2.3, 16), patternColour, 'near wing');
  }

  // Head: crest behind it, then the head, beak and eye.
  const head = headOutline(attrs.headShape);
  if (attrs.crest === 'crested') add(crestOutline(head), headColour, null);
  add(head, headColour, null);
  const anchors = {} as Record<CanonicalPart, Vec | null>;
  for (const [name, r] of Object.entries(HEAD_REGIONS) as Array<[keyof typeof HEAD_REGIONS, (typeof HEAD_REGIONS)[keyof typeof HEAD_REGIONS]]>) {
    add(clipWedge(head, HEAD_CENTRE, r.from, r.to), null, name);
    anchors[name] = headPoint(head, r.at, r.frac);
  }
  const beak = beakOutline(attrs.beakShape, head);
  const beakColour = attrs.headColour === 'yellow' || attrs.headColour === 'white' ? '#3a3430' : '#f0b030';
  add(beak.poly, beakColour, 'beak');
  const eye = headPoint(head, -12, 0.48);
  add(ellipse(eye[0], eye[1], 3.3, 3.3, 20), attrs.headColour === 'white' ? '#d8d8d8' : '#ffffff', 'near eye');
  add(ellipse(eye[0] + 0.5, eye[1], 1.8, 1.8, 14), '#101010', 'near eye');

  anchors.back = [-5, -11.5];
  anchors.breast = [15, 5];
  anchors.belly = [-5, 10];
  anchors.beak = beak.anchor;
  anchors['near eye'] = eye;
  anchors['far eye'] = null;
  anchors['near wing'] = [-4, -1];
  anchors['far wing'] = [-16.5, -16.5];
  anchors['near leg'] = nearLeg;
  anchors['far leg'] = farLeg;
  anchors.tail = tail.anchor;
  return { shapes, anchors };
}

/**
 * How far (canonical units) each drawn part's anchor is from the edge of that part's visible area:
 * the distance to the nearest edge of the part's own polygon containing it, or of any other part's
 * polygon drawn above it. Negative when the anchor is not visible (outside its part or covered).
 * Used to check that keypoints sit well inside their parts for every attribute combination.
 */
export function anchorClearance(attrs: CreatureAttributes, look: Appearance = { bodyColour: '#b8a48c' }): Partial<Record<CanonicalPart, number>> {
  const out: Partial<Record<CanonicalPart, number>> = {};
  const parts = Object.keys(buildCreature(attrs, look).anchors) as CanonicalPart[];
  for (const part of parts) {
    const { shapes, anchors } = buildCreature(attrs, look, { part, colour: '#000000' });
    const p = anchors[part];
    if (!p) continue;
    let own = -1;
    let ownClear = -Infinity;
    shapes.forEach((s, i) => {
      if (s.part === part && pointInPolygon(p, s.poly)) {
        own = i;
        ownClear = Math.max(ownClear, distanceToBoundary(p, s.poly));
      }
    });
    if (own < 0) {
      out[part] = -1;
      continue;
    }
    let clear = ownClear;
    for (let i = own + 1; i < shapes.length; i++) {
      if (shapes[i].part === part) continue;
      const d = distanceToBoundary(p, shapes[i].poly);
      clear = Math.min(clear, pointInPolygon(p, shapes[i].poly) ? -d : d);
    }
    out[part] = clear;
  }
  return out;
}
