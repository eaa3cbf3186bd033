/**
 * The parts metric's per-image rows: labels, dataset positions, parts, visible masks and per
 * prototype set the hit vectors (and, when kept, the maps and peaks), in the layout of
 * maps.safetensors (output/maps-export.ts documents it). They are the metric's partial result: the
 * rows of consecutive image ranges concatenate into the rows of all images.
 */
import { tensorOf, type Tensor, type TypedArray } from '../../io/safetensors.ts';
import { InputError } from '../../util/errors.ts';
import type { PrototypeSetName } from '../context/prototype-sets.ts';
import type { PartsImageRecord } from './parts-sets.ts';

/** The parts metric's per-image rows in the layout above, with each row's image id. */
export interface PartsRows {
  ids: string[];
  tensors: Record<string, Tensor>;
}

export interface PartsRowsLayout {
  sets: readonly PrototypeSetName[];
  k: number;
  numParts: number;
  mapSize: readonly [number, number];
  /** Noisy blocks (stability). */
  noisy: boolean;
  /** Also the maps and peaks (the hits alone score consistency and stability). */
  maps: boolean;
  /** Distinctiveness's box centres and per-image mean pair IoU (`region_peaks_<set>`, `pair_iou_<set>`). */
  distinctiveness?: boolean;
  /** Comprehensiveness's per-image IoU with the foreground (`foreground_iou_<set>`, NaN without a mask). */
  comprehensiveness?: boolean;
}

/** Rows of `recs` (stream order) in the layout above. */
export function partsRows(recs: readonly PartsImageRecord[], layout: PartsRowsLayout): PartsRows {
  const N = recs.length;
  const { k, numParts: P, sets, noisy } = layout;
  const [h, w] = layout.mapSize;
  const labels = new Int32Array(N);
  const indices = new Int32Array(N);
  const partArr = new Int32Array(N * P * 3).fill(-1);
  const visible = new Uint8Array(N * P);
  recs.forEach((r, n) => {
    labels[n] = r.label;
    indices[n] = r.index;
    for (let p = 0; p < P; p++) partArr[(n * P + p) * 3 + 2] = 0;
    for (const q of r.parts) {
      const o = (n * P + q.partId - 1) * 3;
      partArr[o] = q.x;
      partArr[o + 1] = q.y;
      partArr[o + 2] = q.visible ? 1 : 0;
    }
    visible.set(r.visible, n * P);
  });
  const tensors: Record<string, Tensor> = {
    labels: tensorOf(labels, [N]),
    indices: tensorOf(indices, [N]),
    parts: tensorOf(partArr, [N, P, 3]),
    visible: tensorOf(visible, [N, P]),
  };
  for (const s of sets) {
    const blocks: [string, 'maps' | 'peaks' | 'hits', boolean][] = [];
    if (layout.maps) blocks.push([`maps_${s}`, 'maps', false], [`peaks_${s}`, 'peaks', false]);
    blocks.push([`hits_${s}`, 'hits', false]);
    if (noisy && layout.maps) blocks.push([`noisy_maps_${s}`, 'maps', true], [`noisy_peaks_${s}`, 'peaks', true]);
    if (noisy) blocks.push([`noisy_hits_${s}`, 'hits', true]);
    for (const [name, kind, isNoisy] of blocks) {
      const per = kind === 'maps' ? k * h * w : kind === 'peaks' ? k * 2 : k * P;
      const arr = kind === 'maps' ? new Float32Array(N * per) : kind === 'peaks' ? new Int32Array(N * per) : new Uint8Array(N * per);
      recs.forEach((r, n) => {
        const e = r.sets.get(s)!;
        const src = kind === 'maps' ? (isNoisy ? e.noisyMaps : e.maps) : kind === 'peaks' ? (isNoisy ? e.noisyPeaks : e.peaks) : isNoisy ? e.noisyHits : e.hits;
        if (!src) throw new Error(`parts rows: image ${r.id} has no ${name}`);
        (arr as Float32Array).set(src as Float32Array, n * per);
      });
      const shape = kind === 'maps' ? [N, k, h, w] : kind === 'peaks' ? [N, k, 2] : [N, k, P];
      tensors[name] = tensorOf(arr, shape);
    }
    const entries = recs.map((r) => r.sets.get(s)!);
    if (layout.distinctiveness) {
      const peaks = new Int32Array(N * k * 2);
      entries.forEach((e, n) => peaks.set(e.regionPeaks!, n * k * 2));
      tensors[`region_peaks_${s}`] = tensorOf(peaks, [N, k, 2]);
      tensors[`pair_iou_${s}`] = tensorOf(Float64Array.from(entries, (e) => e.pairIoU!), [N]);
    }
    if (layout.comprehensiveness) tensors[`foreground_iou_${s}`] = tensorOf(Float64Array.from(entries, (e) => e.foregroundIoU!), [N]);
  }
  return { ids: recs.map((r) => r.id), tensors };
}

/** Rows of consecutive ranges, in order, as one block (every part must hold the same tensors). */
export function concatRows(parts: readonly PartsRows[]): PartsRows {
  if (parts.length === 1) return parts[0];
  const names = Object.keys(parts[0]?.tensors ?? {});
  const tensors: Record<string, Tensor> = {};
  for (const name of names) {
    const pieces = parts.map((p, i) => {
      const t = p.tensors[name];
      if (!t) throw new InputError(`parts rows: part ${i} has no tensor '${name}'`);
      return t;
    });
    const first = pieces[0];
    const rowShape = first.shape.slice(1);
    for (const t of pieces) {
      if (t.dtype !== first.dtype || t.shape.slice(1).join(',') !== rowShape.join(',')) throw new InputError(`parts rows: tensor '${name}' is ${t.dtype} [${t.shape}] in one part and ${first.dtype} [${first.shape}] in another`);
    }
    const total = pieces.reduce((n, t) => n + t.data.length, 0);
    const Ctor = first.data.constructor as new (n: number) => TypedArray;
    const data = new Ctor(total);
    let o = 0;
    for (const t of pieces) {
      (data as Float32Array).set(t.data as Float32Array, o);
      o += t.data.length;
    }
    tensors[name] = tensorOf(data, [pieces.reduce((n, t) => n + t.shape[0], 0), ...rowShape]);
  }
  return { ids: parts.flatMap((p) => p.ids), tensors };
}

