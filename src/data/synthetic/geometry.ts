/**
 * Plane geometry for the synthetic parts dataset. Every drawn shape is a polygon, so the same
 * vertices that go into the SVG give exact bounding boxes, keypoints and point-in-shape tests.
 * Coordinates follow SVG: x to the right, y down.
 */

/** A point (x, y). */
export type Vec = readonly [number, number];
/** A closed polygon, vertices in order (either orientation); the last vertex joins the first. */
export type Polygon = readonly Vec[];

/**
 * An affine map in SVG `matrix(a b c d e f)` order: x' = a x + c y + e, y' = b x + d y + f.
 * The SVG `transform` attribute and {@link applyAffine} use the same six numbers.
 */
export interface Affine {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
}

export const IDENTITY: Affine = { a: 1, b: 0, c: 0, d: 1, e: 0, f: 0 };

export function applyAffine(m: Affine, p: Vec): Vec {
  return [m.a * p[0] + m.c * p[1] + m.e, m.b * p[0] + m.d * p[1] + m.f];
}

/** `outer ∘ inner`: apply `inner` first, then `outer`. */
export function compose(outer: Affine, inner: Affine): Affine {
  return {
    a: outer.a * inner.a + outer.c * inner.b,
    b: outer.b * inner.a + outer.d * inner.b,
    c: outer.a * inner.c + outer.c * inner.d,
    d: outer.b * inner.c + outer.d * inner.d,
    e: outer.a * inner.e + outer.c * inner.f + outer.e,
    f: outer.b * inner.e + outer.d * inner.f + outer.f,
  };
}

/** Compose left to right as written: `chain(A, B, C)` applies C first, then B, then A. */
export function chain(...ms: Affine[]): Affine {
  return ms.reduce((acc, m) => compose(acc, m), IDENTITY);
}

export function translate(tx: number, ty: number): Affine {
  return { a: 1, b: 0, c: 0, d: 1, e: tx, f: ty };
}

export function scaling(sx: number, sy: number = sx): Affine {
  return { a: sx, b: 0, c: 0, d: sy, e: 0, f: 0 };
}

/** Rotation by `deg` degrees; positive turns +x towards +y (clockwise on screen, as in SVG). */
export function rotation(deg: number): Affine {
  const r = (deg * Math.PI) / 180;
  const cs = Math.cos(r);
  const sn = Math.sin(r);
  return { a: cs, b: sn, c: -sn, d: cs, e: 0, f: 0 };
}

/** Rotation about a point. */
export function rotationAbout(deg: number, centre: Vec): Affine {
  return chain(translate(centre[0], centre[1]), rotation(deg), translate(-centre[0], -centre[1]));
}

export function transformPolygon(m: Affine, poly: Polygon): Vec[] {
  return poly.map((p) => applyAffine(m, p));
}

/** SVG `matrix(...)` text for an affine map, with fixed precision so output is byte-stable. */
export function svgMatrix(m: Affine): string {
  return `matrix(${[m.a, m.b, m.c, m.d, m.e, m.f].map(fmt).join(' ')})`;
}

/** A number as short fixed-precision text (4 decimals, trailing zeros dropped, no "-0"). */
export function fmt(x: number): string {
  const s = x.toFixed(4).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

/** SVG `points` text of a polygon. */
export function svgPoints(poly: Polygon): string {
  return poly.map((p) => `${fmt(p[0])},${fmt(p[1])}`).join(' ');
}

/** An ellipse as an n-gon (vertices on the ellipse), optionally rotated by `rotDeg` about its centre. */
export function ellipse(cx: number, cy: number, rx: number, ry: number, n = 40, rotDeg = 0): Vec[] {
  const r = (rotDeg * Math.PI) / 180;
  const cr = Math.cos(r);
  const sr = Math.sin(r);
  const out: Vec[] = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    const x = rx * Math.cos(t);
    const y = ry * Math.sin(t);
    out.push([cx + x * cr - y * sr, cy + x * sr + y * cr]);
  }
  return out;
}

/** A rectangle centred at (cx, cy) with rounded corners of radius `r`, as a polygon. */
export function roundedRect(cx: number, cy: number, w: number, h: number, r: number, perCorner = 6): Vec[] {
  const out: Vec[] = [];
  const corners: Array<[number, number, number]> = [
    [cx + w / 2 - r, cy + h / 2 - r, 0],
    [cx - w / 2 + r, cy + h / 2 - r, 90],
    [cx - w / 2 + r, cy - h / 2 + r, 180],
    [cx + w / 2 - r, cy - h / 2 + r, 270],
  ];
  for (const [x, y, start] of corners) {
    for (let i = 0; i <= perCorner; i++) {
      const t = ((start + (90 * i) / perCorner) * Math.PI) / 180;
      out.push([x + r * Math.cos(t), y + r * Math.sin(t)]);
    }
  }
  return out;
}

/** Points of a quadratic Bézier from p0 (included) to p2 (included) with control p1. */
export function quadBezier(p0: Vec, p1: Vec, p2: Vec, n: number): Vec[] {
  const out: Vec[] = [];
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const u = 1 - t;
    out.push([u * u * p0[0] + 2 * u * t * p1[0] + t * t * p2[0], u * u * p0[1] + 2 * u * t * p1[1] + t * t * p2[1]]);
  }
  return out;
}

/** A thick segment (a quadrilateral) from p to q with the given half-width. */
export function thickSegment(p: Vec, q: Vec, halfWidth: number): Vec[] {
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  const len = Math.hypot(dx, dy) || 1;
  const nx = (-dy / len) * halfWidth;
  const ny = (dx / len) * halfWidth;
  return [
    [p[0] + nx, p[1] + ny],
    [q[0] + nx, q[1] + ny],
    [q[0] - nx, q[1] - ny],
    [p[0] - nx, p[1] - ny],
  ];
}

/**
 * Clip a polygon to the half-plane n·p <= c (Sutherland-Hodgman). Exact for convex input;
 * for concave input the result may contain zero-width bridges, which draw as nothing.
 */
export function clipHalfPlane(poly: Polygon, n: Vec, c: number): Vec[] {
  const out: Vec[] = [];
  const side = (p: Vec) => n[0] * p[0] + n[1] * p[1] - c;
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i];
    const q = poly[(i + 1) % poly.length];
    const sp = side(p);
    const sq = side(q);
    if (sp <= 0) out.push(p);
    if ((sp < 0 && sq > 0) || (sp > 0 && sq < 0)) {
      const t = sp / (sp - sq);
      out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return out;
}

/** Clip to the wedge of directions [fromDeg, toDeg] (span < 180°) seen from `apex`. */
export function clipWedge(poly: Polygon, apex: Vec, fromDeg: number, toDeg: number): Vec[] {
  const a = (fromDeg * Math.PI) / 180;
  const b = (toDeg * Math.PI) / 180;
  // Keep points on the counter-rotation side of ray a and the rotation side of ray b (y down:
  // increasing angle turns clockwise on screen).
  const na: Vec = [Math.sin(a), -Math.cos(a)];
  const nb: Vec = [-Math.sin(b), Math.cos(b)];
  const c1 = na[0] * apex[0] + na[1] * apex[1];
  const c2 = nb[0] * apex[0] + nb[1] * apex[1];
  return clipHalfPlane(clipHalfPlane(poly, na, c1), nb, c2);
}

/** Even-odd point-in-polygon test. Points exactly on an edge may go either way. */
export function pointInPolygon(p: Vec, poly: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Distance from a point to the nearest edge of a polygon. */
export function distanceToBoundary(p: Vec, poly: Polygon): number {
  let best = Infinity;
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i];
    const b = poly[(i + 1) % poly.length];
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const l2 = dx * dx + dy * dy;
    const t = l2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2));
    best = Math.min(best, Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy));
  }
  return best;
}

/** Point where the ray from `origin` in direction `deg` last leaves the polygon (for star-shaped outlines). */
export function rayExit(poly: Polygon, origin: Vec, deg: number): Vec {
  const r = (deg * Math.PI) / 180;
  const dx = Math.cos(r);
  const dy = Math.sin(r);
  let best = 0;
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i];
    const b = poly[(i + 1) % poly.length];
    const ex = b[0] - a[0];
    const ey = b[1] - a[1];
    const den = dx * ey - dy * ex;
    if (Math.abs(den) < 1e-12) continue;
    const ax = a[0] - origin[0];
    const ay = a[1] - origin[1];
    const t = (ax * ey - ay * ex) / den;
    const s = (ax * dy - ay * dx) / den;
    if (t > 0 && s >= 0 && s <= 1) best = Math.max(best, t);
  }
  return [origin[0] + best * dx, origin[1] + best * dy];
}

/** Axis-aligned bounds. */
export interface Bounds {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

export function boundsOf(polys: readonly Polygon[]): Bounds {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const poly of polys) {
    for (const [x, y] of poly) {
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  return { minX, minY, maxX, maxY };
}

/** Linear interpolation between points. */
export function lerp(p: Vec, q: Vec, t: number): Vec {
  return [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])];
}
