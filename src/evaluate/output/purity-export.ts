/**
 * Purity's audit files, so anyone can recompute it with numpy alone: `purity.safetensors` holds, per
 * prototype set S and prototype p = c k + i, its top training images best first (K = topK; -1 where a
 * list is shorter):
 *
 *   top_ordinal_S  I32 [C k, K]  position of the image among the training images scanned (purity.json names it)
 *   top_score_S    F32 [C k, K]  the prototype's largest map value over positions in that image
 *   top_row_S, top_col_S  I32 [C k, K]  feature-grid position of that value
 *
 * and `purity.json` the images (ordinal, id, source size, parts), the merged parts and the patch rule.
 */
import { join } from 'node:path';
import { writeJsonAtomic } from '../../io/atomic.ts';
import { tensorOf, writeSafetensors, type Tensor } from '../../io/safetensors.ts';
import type { PrototypeSetName } from '../context/prototype-sets.ts';
import type { PurityReport, PurityTops } from '../metrics/purity.ts';

export const PURITY_FILE = 'purity.safetensors';
export const PURITY_INDEX_FILE = 'purity.json';

/** Write purity.safetensors and purity.json into `dir`. */
export async function writePurity(dir: string, tops: PurityTops, report: PurityReport, geometry: { grid: readonly [number, number]; input: readonly [number, number] }): Promise<{ tensors: string; index: string }> {
  const K = tops.topK;
  const tensors: Record<string, Tensor> = {};
  for (const [s, lists] of Object.entries(tops.lists) as [PrototypeSetName, NonNullable<PurityTops['lists'][PrototypeSetName]>][]) {
    const P = lists.length;
    const ordinal = new Int32Array(P * K).fill(-1);
    const score = new Float32Array(P * K).fill(Number.NaN);
    const row = new Int32Array(P * K).fill(-1);
    const col = new Int32Array(P * K).fill(-1);
    lists.forEach((l, p) =>
      l.forEach((e, j) => {
        ordinal[p * K + j] = e.ordinal;
        score[p * K + j] = e.score;
        row[p * K + j] = e.row;
        col[p * K + j] = e.col;
      }),
    );
    tensors[`top_ordinal_${s}`] = tensorOf(ordinal, [P, K]);
    tensors[`top_score_${s}`] = tensorOf(score, [P, K]);
    tensors[`top_row_${s}`] = tensorOf(row, [P, K]);
    tensors[`top_col_${s}`] = tensorOf(col, [P, K]);
  }
  await writeSafetensors(join(dir, PURITY_FILE), tensors, { schema: 'protolens.evaluation-purity', version: '1' });
  const images = Object.entries(tops.sources)
    .map(([o, src]) => ({ ordinal: Number(o), id: src.id, width: src.width, height: src.height, parts: src.parts.map((q) => [q.partId, q.x, q.y, q.visible ? 1 : 0]) }))
    .sort((a, b) => a.ordinal - b.ordinal);
  await writeJsonAtomic(join(dir, PURITY_INDEX_FILE), {
    schema: 'protolens.evaluation-purity',
    version: 1,
    file: PURITY_FILE,
    topK: K,
    grid: geometry.grid,
    input: geometry.input,
    parts: report.parts,
    patch: 'side round(32 x S / 224) for input side S; skip = round((S - side) / (grid - 1)); rows h x skip .. min(S, h x skip + side), the last row (or one reaching S) S - side .. S; columns likewise; scaled to the source: y x height / S, x x width / S',
    inside: 'a visible part (x, y in source pixels) is in the patch when min <= coordinate <= max on both axes',
    merge: "'left X' merges into 'right X': visible when either is, inside when a visible one is",
    recompute: 'per prototype row of top_ordinal_<set> (entries >= 0): for each merged part, (images with it inside) / (images where visible); purity = the largest such share (0 when none visible); score = mean over prototypes',
    images,
  });
  return { tensors: PURITY_FILE, index: PURITY_INDEX_FILE };
}
