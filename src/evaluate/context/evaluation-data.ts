/**
 * The images of an evaluation (data/selection.ts: a dataset split, optionally an evenly spaced
 * subset, optionally a shard's range), streamed in batches through the model. Each batch arrives
 * with the classifier's features and the black box's logits (unless the pass reads none), and (for the parts protocol) with each
 * image's parts mapped into input pixels by the reference arithmetic.
 */
import { batches } from '../../data/batches.ts';
import { selectedItems, type ImageSelection, type OrdinalRange } from '../../data/selection.ts';
import { type Failure, type ImageItem } from '../../data/types.ts';
import { loadMask } from '../../data/segmentation.ts';
import { InputError } from '../../util/errors.ts';
import { protocolMask } from '../protocols/regions.ts';
import { type PreprocessConfig } from '../../data/preprocess-config.ts';
import type { ForwardBatch, NetworkEvaluationModel } from './network-model.ts';
import { protocolCrop, protocolParts, type PartsVariant } from '../protocols/parts.ts';

export interface ForwardBatchOptions {
  /** Images per batch (default: the model's fixed batch size, else 32). */
  batchSize?: number;
  /** Map each image's parts for this protocol variant (default: no parts). */
  partsVariant?: PartsVariant;
  /** Called for each image that cannot be decoded. */
  onFailure?: (f: Failure) => void;
  /** Only the selected images with these ordinals (a shard's range; default all). */
  range?: OrdinalRange;
  /** Also each image's foreground mask (needs `partsVariant`; comprehensiveness). */
  masks?: boolean;
  /**
   * Whether the batch's logits must be the black box's (the plain model in its own session; default
   * true). false: one model run per batch, and `logits` are the adapter session's (passes whose
   * metrics read no logits).
   */
  blackBoxLogits?: boolean;
}

/**
 * Stream the selected images through the model with preprocessing `cfg`. Images that cannot be
 * decoded are reported through `onFailure` and left out; batches where every image failed are skipped.
 */
export async function* forwardBatches(model: NetworkEvaluationModel, data: ImageSelection, cfg: PreprocessConfig, opts: ForwardBatchOptions = {}): AsyncGenerator<ForwardBatch> {
  const batchSize = model.classifier.maxBatch ?? opts.batchSize ?? 32;
  const inputSize: [number, number] = [model.input.height, model.input.width];
  const ordinals = new Map<number, number>();
  const items = async function* () {
    for await (const it of selectedItems(data, opts.range)) {
      ordinals.set(it.index, it.ordinal);
      yield it;
    }
  };
  const stream = batches(items(), cfg, { batchSize, onFailure: opts.onFailure });
  try {
    for await (const b of stream) {
      const n = b.items.length;
      if (n === 0) continue;
      const { features, logits } = opts.blackBoxLogits === false ? await model.adapterForward(b.tensor, n) : await model.forward(b.tensor, n);
      const variant = opts.partsVariant;
      const masks = opts.masks && variant ? await Promise.all(b.items.map((it, i) => protocolMaskOf(it, variant, b.geometries[i].source, inputSize))) : undefined;
      yield {
        tensor: b.tensor,
        labels: b.items.map((it) => it.label),
        indices: b.items.map((it) => it.index),
        ordinals: b.items.map((it) => {
          const o = ordinals.get(it.index)!;
          ordinals.delete(it.index);
          return o;
        }),
        ids: b.items.map((it) => it.id),
        parts: variant ? b.items.map((it, i) => (it.parts ? protocolParts(it.parts, protocolCrop(it, variant, b.geometries[i].source), inputSize) : undefined)) : undefined,
        ...(masks ? { masks } : {}),
        sources: b.geometries.map((g) => g.source),
        sourceParts: b.items.map((it) => it.parts),
        features,
        logits,
        failures: b.failures,
      };
    }
  } finally {
    await stream.return();
  }
}

/** The image's foreground mask in input pixels for the parts protocol (undefined: the image has none). */
async function protocolMaskOf(it: ImageItem, variant: PartsVariant, source: { width: number; height: number }, inputSize: [number, number]): Promise<Uint8Array | undefined> {
  if (!it.segmentation) return undefined;
  const m = await loadMask(it.segmentation);
  if (m.width !== source.width || m.height !== source.height) {
    throw new InputError(`segmentation mask ${it.segmentation}: ${m.width} x ${m.height} pixels, but image ${it.id} is ${source.width} x ${source.height}`);
  }
  return protocolMask(m.data, m.width, m.height, protocolCrop(it, variant, source), inputSize[0], inputSize[1]);
}
