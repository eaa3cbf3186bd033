/**
 * Per-image maps and part hits of the parts metric, written so anyone can recompute the scores
 * without protolens: `maps.safetensors` (open with `safetensors.numpy.load_file`, or numpy alone) and
 * `maps.json` (row order, image ids, names, layout). N images (rows in stream order), k prototypes of
 * the image's ground-truth class, P parts, feature maps h x w, one block per prototype set S:
 *
 *   labels          I32 [N]          ground-truth class
 *   indices         I32 [N]          position in the dataset split
 *   parts           I32 [N, P, 3]    (x, y, visible) of part id p + 1 in input pixels (protocol mapping; -1, -1, 0 when absent)
 *   visible         U8  [N, P]
 *   maps_S          F32 [N, k, h, w] x p_i^T at feature resolution (clean input)
 *   peaks_S         I32 [N, k, 2]    (row, col) of the first maximum of the cv2-bicubic upsampled map
 *   hits_S          U8  [N, k, P]    part visible and inside the region around the peak
 *   noisy_maps_S, noisy_peaks_S, noisy_hits_S   the same on the perturbed input (with stability)
 *   region_peaks_S  I32 [N, k, 2]    (row, col) of the first maximum of the PyTorch-bilinear upsampled map (distinctiveness)
 *   pair_iou_S      F64 [N]          mean IoU of the boxes on region_peaks over the k (k - 1) / 2 pairs (NaN for k < 2)
 *   foreground_iou_S F64 [N]         IoU of the maps' thresholded union with the foreground mask (comprehensiveness; NaN: no mask)
 */
import { join } from 'node:path';
import { writeJsonAtomic } from '../../io/atomic.ts';
import { writeSafetensors } from '../../io/safetensors.ts';
import type { PartsRows } from '../metrics/parts-rows.ts';
import type { PartsSetsReport } from '../metrics/parts-sets.ts';
import type { PrototypeSetName } from '../context/prototype-sets.ts';
import { STABILITY_RULE } from '../protocols/parts.ts';

export const MAPS_SCHEMA = 'protolens.evaluation-maps';
export const MAPS_SCHEMA_VERSION = 1;
export const MAPS_FILE = 'maps.safetensors';
export const MAPS_INDEX_FILE = 'maps.json';

export interface MapsContext {
  classNames: readonly string[];
  partNames: readonly string[] | null;
  mapSize: readonly [number, number];
  k: number;
}

/** Write maps.safetensors and maps.json into `dir`; returns the two file names. */
export async function writeMaps(dir: string, rows: PartsRows, parts: PartsSetsReport, ctx: MapsContext): Promise<{ maps: string; index: string }> {
  const { tensors, ids } = rows;
  const { k } = ctx;
  const [h, w] = ctx.mapSize;
  const sets = Object.keys(parts.sets) as PrototypeSetName[];
  const noisy = parts.options.stability;
  const P = parts.options.numParts;
  const labels = tensors.labels.data as Int32Array;
  const indices = tensors.indices.data as Int32Array;
  const o = parts.options;
  for (const s of sets) if (!tensors[`maps_${s}`]) throw new Error(`maps export: the rows hold no maps of set '${s}'`);
  await writeSafetensors(join(dir, MAPS_FILE), tensors, {
    schema: MAPS_SCHEMA,
    version: String(MAPS_SCHEMA_VERSION),
    sets: sets.join(','),
    variant: parts.variant,
    seed: String(parts.seed),
    inputSize: o.inputSize.join(','),
    mapSize: `${h},${w}`,
    halfSize: String(o.halfSize),
    partThreshold: String(o.partThreshold),
    stabilityVariant: o.stabilityVariant,
  });
  await writeJsonAtomic(join(dir, MAPS_INDEX_FILE), {
    schema: MAPS_SCHEMA,
    version: MAPS_SCHEMA_VERSION,
    file: MAPS_FILE,
    sets,
    k,
    numParts: P,
    mapSize: [h, w],
    inputSize: o.inputSize,
    halfSize: o.halfSize,
    partThreshold: o.partThreshold,
    variant: parts.variant,
    stability: noisy,
    stabilityVariant: o.stabilityVariant,
    stabilityRule: STABILITY_RULE[o.stabilityVariant],
    noise: { seed: parts.seed, std: o.noiseStd, eps: o.noiseEps, stream: 'new Rng(seed).fork(indices[n]) per image (src/util/random.ts)' },
    classNames: ctx.classNames,
    partNames: ctx.partNames,
    images: ids.map((id, n) => ({ row: n, id, index: indices[n], label: labels[n] })),
    layout: {
      labels: 'I32 [N]: ground-truth class (index into classNames)',
      indices: 'I32 [N]: position in the dataset split',
      parts: 'I32 [N, P, 3]: x, y, visible of part id p + 1 in input pixels (the protocol mapping); -1, -1, 0 when absent',
      visible: 'U8 [N, P]',
      'maps_<set>': 'F32 [N, k, h, w]: x p_i^T at feature resolution for the k prototypes of the image\'s ground-truth class',
      'peaks_<set>': 'I32 [N, k, 2]: row, col of the first maximum of the map upsampled to the input with cv2.resize INTER_CUBIC',
      'hits_<set>': 'U8 [N, k, P]: part p + 1 is visible and inside rows max(0, row - half)..min(H, row + half), cols likewise (inclusive)',
      'noisy_<...>_<set>': 'the same on the perturbed input (stability)',
      'region_peaks_<set>': 'I32 [N, k, 2]: row, col of the first maximum of the map upsampled with F.interpolate(mode="bilinear", align_corners=False) (distinctiveness)',
      'pair_iou_<set>': 'F64 [N]: mean over the k (k - 1) / 2 pairs of the IoU of boxSize x boxSize boxes centred on region_peaks, unclipped (NaN for k < 2)',
      'foreground_iou_<set>': 'F64 [N]: |union of maps min-max normalised >= 0.6| and foreground: intersection / (union + 1e-6) (NaN: the image has no mask)',
    },
    boxSize: o.boxSize,
    recompute: {
      distinctiveness: 'score = 100 x (1 - mean over rows of pair_iou_<set>, NaN rows left out)',
      comprehensiveness: 'score = 100 x mean over rows of foreground_iou_<set>, NaN rows (no mask) left out',
      consistency: 'per class c, prototype i, part p: rate = sum of hits over class-c rows / max(1, sum of visible over class-c rows); prototype consistent when max_p rate >= partThreshold; score = 100 x consistent / (C x k)',
      stability:
        "per class c, prototype i: fraction of class-c rows whose pair is stable; stabilityRule 'signed-sum' (EvalProtoPNet): sum over p of (hits[n, i, p] - noisy_hits[n, i, p]) == 0; " +
        "'same-vector' (ProtoPNeXt): hits[n, i, :] == noisy_hits[n, i, :]; score = 100 x mean over prototypes of classes with rows",
    },
  });
  return { maps: MAPS_FILE, index: MAPS_INDEX_FILE };
}
