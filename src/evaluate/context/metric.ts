/**
 * The shared shape of every evaluation metric: `Metric<R>.run(context)`. The context carries what all
 * metrics need and nothing more: the model seen through two calls (prototype maps of chosen classes,
 * class probabilities), a restartable stream of evaluation batches, and the seed. Each metric takes
 * its own typed options when it is made, and puts the seed and its resolved options in its report.
 */
import type { Layout } from '../../data/preprocess-config.ts';
import type { PartLocation } from '../../data/types.ts';

/** The model under evaluation, as metrics see it. */
export interface EvaluationModel {
  readonly numClasses: number;
  /** Prototype rows per class (k; with k 'auto' the largest class's). */
  readonly prototypesPerClass: number;
  /**
   * Prototypes of each class when they differ (k 'auto'): class c's are rows 0 .. counts[c] - 1, the
   * rest are zero and not scored. Null when every class has k.
   */
  readonly prototypeCounts?: Int32Array | null;
  /** One input image: channels x height x width in `layout`. */
  readonly input: { channels: number; height: number; width: number; layout: Layout };
  /** Prototype map size at feature resolution, [h, w]. */
  readonly mapSize: [number, number];
  /**
   * Maps of the k prototypes of class classes[i] for image i of the batch: n x k x h x w float32
   * (prototype heatmaps x p~^T at feature resolution).
   */
  prototypeMaps(batch: Float32Array, n: number, classes: ArrayLike<number>): Promise<Float32Array>;
  /** Class probabilities (softmax of the logits), n x numClasses float32. */
  probabilities(batch: Float32Array, n: number): Promise<Float32Array>;
}

/** A batch of preprocessed evaluation images. */
export interface EvaluationBatch {
  /** n images, normalised, in the model's input layout, concatenated. */
  tensor: Float32Array;
  /** Ground-truth class of each image. */
  labels: readonly number[];
  /** Position of each image in the evaluation set, 0-based (seeds per-image randomness). */
  indices: readonly number[];
  /** Stable identifier of each image (CUB image id or relative path), for reports and errors. */
  ids: readonly string[];
  /**
   * Per image: all annotated parts in input pixels with their visible flags, mapped for the parts
   * protocol (`protocolParts`); needed by the parts metric only.
   */
  parts?: readonly (readonly PartLocation[] | undefined)[];
}

/** Everything a metric may use. */
export interface EvaluationContext {
  model: EvaluationModel;
  /** A fresh pass over the evaluation images on every call, in a fixed order. */
  batches(): AsyncIterable<EvaluationBatch>;
  /** Seed of every random choice a metric makes (noise, random orders); recorded in reports. */
  seed: number;
  /** Called after each batch with the number of images done so far. */
  onProgress?: (imagesDone: number) => void;
}

/**
 * One metric: a name (used as the report key) and a run over the context. Metrics that need more
 * than images in and maps or probabilities out (features, logits) name a richer context type
 * (`Ctx`, e.g. `NetworkEvaluationContext`); the call signature stays `run(ctx)`.
 */
export interface Metric<R, Ctx extends EvaluationContext = EvaluationContext> {
  readonly name: string;
  run(ctx: Ctx): Promise<R>;
}

/**
 * A metric whose work splits over consecutive ranges of the evaluation images (shards): `partial`
 * scores the images the context streams and returns what the report needs from them (JSON-safe,
 * see io/json-numbers.ts), `merge` turns the partials of consecutive ranges, in order, into the
 * report. `run(ctx)` is `merge([await partial(ctx)], ctx)`, so a run on one machine and a sharded
 * run compute the report with the same code from the same numbers.
 */
export interface ShardableMetric<P, R, Ctx extends EvaluationContext = EvaluationContext> extends Metric<R, Ctx> {
  partial(ctx: Ctx): Promise<P>;
  merge(partials: readonly P[], ctx: Ctx): R;
}

/** `run` of a shardable metric. */
export function runWhole<P, R, Ctx extends EvaluationContext>(m: Pick<ShardableMetric<P, R, Ctx>, 'partial' | 'merge'>): (ctx: Ctx) => Promise<R> {
  return async (ctx) => m.merge([await m.partial(ctx)], ctx);
}

/** Number of images in a batch, checked against its labels, indices and ids. */
export function batchCount(b: EvaluationBatch, ctx: EvaluationContext): number {
  const n = b.labels.length;
  const { channels, height, width } = ctx.model.input;
  const per = channels * height * width;
  if (b.indices.length !== n || b.ids.length !== n) {
    throw new Error(`evaluation batch: ${n} labels, ${b.indices.length} indices, ${b.ids.length} ids (all must match)`);
  }
  if (b.tensor.length !== n * per) throw new Error(`evaluation batch: tensor has ${b.tensor.length} values, ${n} images x ${per} expected`);
  return n;
}
