/**
 * Purity (Nauta et al., PIP-Net, CVPR 2023; reference: M-Nauta/PIPNet util/eval_cub_csv.py at
 * 12c4da77251f, docs/metric-references.md): how well a prototype's top training patches agree on one
 * part.
 *
 * - Per prototype, the `topK` (10) training images where its map's maximum over positions is largest
 *   (ties: the earlier image, as pandas' nlargest keeps the first), with the position of that maximum.
 * - The patch at that position: 32 x 32 at 224 (scaled to other inputs), `skip = round((S - patch) /
 *   (grid - 1))`, rows h x skip .. min(S, h x skip + patch), the last row (or one reaching S) is
 *   S - patch .. S; columns likewise. Scaled to the source image's pixels (x by width / S, y by
 *   height / S: the reference resizes whole images to 224 x 224).
 * - A visible part (source coordinates) is in the patch when min <= coordinate <= max on both axes.
 *   Left parts merge into their right counterparts ('left eye' into 'right eye'): OR when both are
 *   visible, the visible one otherwise.
 * - Purity of the prototype = max over parts of (images with the part in the patch / images where the
 *   part is visible), over its top images; the score is the mean over prototypes (with its standard
 *   deviation and the count above 0.5).
 */
import type { PartLocation } from '../../data/types.ts';

/** Images per prototype (the reference's k). */
export const PURITY_TOP_K = 10;
/** Patch side at 224 x 224. */
export const REFERENCE_PATCH = 32;

/** Rows (or columns) of the patch at grid index `i` of `grid`, for an input side `S`: [min, max]. */
export function patchRange(i: number, grid: number, S: number): [number, number] {
  const patch = Math.max(1, Math.round((REFERENCE_PATCH * S) / 224));
  const skip = grid > 1 ? Math.round((S - patch) / (grid - 1)) : 0;
  const lo = i * skip;
  const hi = Math.min(S, lo + patch);
  if (i === grid - 1 || hi === S) return [S - patch, S];
  return [lo, hi];
}

/**
 * Merged parts: one entry per part whose name does not start with 'left ', listing the part ids it
 * stands for (its own, and the matching 'left ' part's when there is one).
 */
export function mergedParts(partNames: readonly string[]): { name: string; ids: number[] }[] {
  const ids = new Map(partNames.map((n, i) => [n.toLowerCase(), i + 1]));
  const out: { name: string; ids: number[] }[] = [];
  partNames.forEach((n, i) => {
    const lower = n.toLowerCase();
    if (lower.startsWith('left ') && ids.has(`right ${lower.slice(5)}`)) return;
    const left = lower.startsWith('right ') ? ids.get(`left ${lower.slice(6)}`) : undefined;
    out.push({ name: n, ids: left !== undefined ? [i + 1, left] : [i + 1] });
  });
  return out;
}

export interface PatchImage {
  /** Source image size. */
  width: number;
  height: number;
  parts: readonly PartLocation[];
  /** Grid position of the prototype's maximum. */
  row: number;
  col: number;
}

/** Purity of one prototype from its top images (0 when no part is visible in any). */
export function prototypePurity(images: readonly PatchImage[], grid: readonly [number, number], input: readonly [number, number], merged: readonly { name: string; ids: number[] }[]): { purity: number; part: string | null } {
  const hits = new Map<string, { inside: number; visible: number }>();
  for (const im of images) {
    const [r0, r1] = patchRange(im.row, grid[0], input[0]);
    const [c0, c1] = patchRange(im.col, grid[1], input[1]);
    const y0 = (r0 * im.height) / input[0];
    const y1 = (r1 * im.height) / input[0];
    const x0 = (c0 * im.width) / input[1];
    const x1 = (c1 * im.width) / input[1];
    const byId = new Map(im.parts.filter((p) => p.visible).map((p) => [p.partId, p]));
    for (const m of merged) {
      const seen = m.ids.map((id) => byId.get(id)).filter((p): p is PartLocation => p !== undefined);
      if (seen.length === 0) continue;
      const inside = seen.some((p) => y0 <= p.y && p.y <= y1 && x0 <= p.x && p.x <= x1);
      const h = hits.get(m.name) ?? { inside: 0, visible: 0 };
      h.visible++;
      if (inside) h.inside++;
      hits.set(m.name, h);
    }
  }
  let purity = 0;
  let part: string | null = null;
  for (const m of merged) {
    const h = hits.get(m.name);
    if (!h) continue;
    const v = h.inside / h.visible;
    if (v > purity) {
      purity = v;
      part = m.name;
    }
  }
  return { purity, part };
}

/** One entry of a prototype's top list. */
export interface TopEntry {
  score: number;
  /** Ordinal of the image among the selected training images. */
  ordinal: number;
  row: number;
  col: number;
}

/** Keep the `k` largest, earlier ordinal first on ties; `list` is sorted best first. */
export function offerTop(list: TopEntry[], e: TopEntry, k: number): void {
  const better = (a: TopEntry, b: TopEntry) => a.score > b.score || (a.score === b.score && a.ordinal < b.ordinal);
  if (list.length === k && !better(e, list[k - 1])) return;
  let i = list.length;
  while (i > 0 && better(e, list[i - 1])) i--;
  list.splice(i, 0, e);
  if (list.length > k) list.pop();
}
