/**
 * A prototype network and its model seen by the evaluation metrics: the `EvaluationModel` calls
 * (prototype maps and probabilities from images, so the model-independent metrics run on it too),
 * plus what network metrics need: the classifier's features and the black box's logits from one
 * batch, and from features alone the prototype network's contributions and logits and the maps of
 * every prototype set.
 */
import type { PreprocessConfig } from '../../data/preprocess-config.ts';
import type { Failure, PartLocation } from '../../data/types.ts';
import type { Classifier } from '../../model/classifier.ts';
import type { Network } from '../../network/artifact.ts';
import type { Decomposition } from '../protocols/axioms.ts';
import { softmax } from '../../network/contributions.ts';
import { BlackBox } from './black-box.ts';
import type { EvaluationBatch, EvaluationContext, EvaluationModel } from './metric.ts';
import { openNetwork, type HeadDifference, type OpenNetworkOptions } from '../../network/open.ts';
import { PrototypeHead, type Decomposed } from './prototype-head.ts';
import { prototypeSets, type PrototypeSet, type PrototypeSetName } from './prototype-sets.ts';

/** A batch with the model already run on it. */
export interface ForwardBatch extends EvaluationBatch {
  /**
   * Position of each image among the selected images, 0-based, counting images that failed to
   * decode: the same on one machine and in a shard (metrics that score a subset choose by it).
   */
  ordinals: readonly number[];
  /** Per image, the source image's size and its parts as annotated (source pixels), when the dataset has them. */
  sources?: readonly { width: number; height: number }[];
  sourceParts?: readonly (readonly PartLocation[] | undefined)[];
  /** Per image, the foreground mask in input pixels (H x W of 0/1; protocol crop), when asked for. */
  masks?: readonly (Uint8Array | undefined)[];
  /** n x HW x D features (the classifier adapter's session). */
  features: Float32Array;
  /** n x C: the black box's own logits. */
  logits: Float32Array;
  /** Images of this part of the stream that could not be decoded. */
  failures: readonly Failure[];
}

/** The context network metrics run in: batches arrive with features and logits. */
export interface NetworkEvaluationContext extends EvaluationContext {
  model: NetworkEvaluationModel;
  batches(): AsyncIterable<ForwardBatch>;
  /** How the batches were made: the network's own preprocessing, or the parts protocol's. */
  images: { preprocess: PreprocessConfig; purpose: 'network' | 'protocol' | 'both' | 'training' };
  /** Images in the pass, before any decode failure (metrics that score a subset spread it over these). */
  imageCount: number;
  /** Part names by part id - 1, when the dataset has parts. */
  partNames?: readonly string[];
}

export interface NetworkModelOptions extends OpenNetworkOptions {
  /** Prototype sets whose maps are computed (default all three). */
  sets?: readonly PrototypeSetName[];
  /** Seed of the random convex split (default 0). */
  randomSplitSeed?: number;
}

/** Row-wise softmax of n x C logits (each row as `softmax`, stored in float32). */
function softmaxRows(logits: Float32Array, n: number, C: number): Float32Array {
  const out = new Float32Array(n * C);
  for (let i = 0; i < n; i++) out.set(softmax(logits.subarray(i * C, (i + 1) * C)), i * C);
  return out;
}

export class NetworkEvaluationModel implements EvaluationModel {
  readonly numClasses: number;
  readonly prototypesPerClass: number;
  readonly prototypeCounts: Int32Array | null;
  readonly input: EvaluationModel['input'];
  readonly mapSize: [number, number];
  /** D. */
  readonly featureDim: number;
  /** H x W of the feature map. */
  readonly positions: number;
  readonly sets: readonly PrototypeSet[];
  /** Whether the black box's logits come from the plain model ('plain') or the adapter session. */
  readonly blackBoxSession: 'plain' | 'adapter';
  /** Some class has a non-zero residual term (allocator 'none'). */
  readonly hasResidual: boolean;

  private constructor(
    readonly network: Network,
    readonly classifier: Classifier,
    readonly preprocess: PreprocessConfig,
    readonly modelPath: string,
    readonly headDifference: HeadDifference,
    private readonly head: PrototypeHead,
    private readonly blackBox: BlackBox | null,
    sets: PrototypeSet[],
    readonly randomSplitSeed: number,
  ) {
    const { input: inp, features: f } = classifier;
    this.numClasses = network.numClasses;
    this.prototypesPerClass = network.k;
    this.prototypeCounts = network.prototypeCounts.some((x) => x !== network.k) ? network.prototypeCounts : null;
    this.input = { channels: inp.channels, height: inp.height, width: inp.width, layout: inp.layout };
    this.mapSize = [f.H, f.W];
    this.featureDim = f.D;
    this.positions = f.HW;
    this.sets = sets;
    this.blackBoxSession = blackBox ? 'plain' : 'adapter';
    this.hasResidual = network.residualTerm.some((v) => v !== 0);
  }

  /** Open the network, its classifier, the plain black-box session and the prototype head graph. */
  static async open(net: Network | string, opts: NetworkModelOptions = {}): Promise<NetworkEvaluationModel> {
    const o = await openNetwork(net, opts);
    const seed = opts.randomSplitSeed ?? 0;
    let blackBox: BlackBox | null = null;
    try {
      const sets = prototypeSets(o.network, opts.sets ?? ['refined', 'initial', 'random'], seed);
      if (!sets.some((s) => s.name === 'refined')) sets.unshift(...prototypeSets(o.network, ['refined'], seed));
      blackBox = await BlackBox.open(o.classifier, opts.threads);
      const head = await PrototypeHead.create({
        numClasses: o.network.numClasses,
        k: o.network.k,
        channels: o.network.channels,
        positions: o.classifier.features.HW,
        sets,
        residualTerm: o.network.residualTerm,
        bias: o.network.bias,
        threads: opts.threads,
      });
      return new NetworkEvaluationModel(o.network, o.classifier, o.preprocess, o.modelPath, o.headDifference, head, blackBox, sets, seed);
    } catch (e) {
      await blackBox?.release();
      await o.classifier.close();
      throw e;
    }
  }

  /** Features (adapter session) and the black box's logits of n images. */
  async forward(batch: Float32Array, n: number): Promise<{ features: Float32Array; logits: Float32Array }> {
    const r = await this.classifier.run(batch, n);
    return { features: r.features, logits: this.blackBox ? await this.blackBox.logits(batch, n) : r.logits };
  }

  /**
   * Features and logits of n images from the adapter session alone (the model with its feature map
   * as an extra output): one model run, for passes that need no black-box logits (the parts protocol,
   * purity, a noised copy of a batch).
   */
  async adapterForward(batch: Float32Array, n: number): Promise<{ features: Float32Array; logits: Float32Array }> {
    const r = await this.classifier.run(batch, n);
    return { features: r.features, logits: r.logits };
  }

  /** The black box's logits alone (n x C). */
  async logits(batch: Float32Array, n: number): Promise<Float32Array> {
    return this.blackBox ? this.blackBox.logits(batch, n) : (await this.classifier.run(batch, n)).logits;
  }

  /** The prototype network's contributions and logits from features (n x HW x D). */
  decompose(features: Float32Array, n: number): Promise<Decomposed> {
    return this.head.decompose(features, n);
  }

  /** Maps (n x k x HW per set) of class classes[j]'s prototypes on image j, from features. */
  /** Per set, every prototype's largest map value over positions and its position (n x C k each). */
  globalMax(features: Float32Array, n: number, sets?: readonly PrototypeSetName[]): Promise<Map<PrototypeSetName, { max: Float32Array; argmax: BigInt64Array }>> {
    return this.head.globalMax(features, n, sets);
  }

  setMaps(features: Float32Array, n: number, classes: ArrayLike<number>, sets?: readonly PrototypeSetName[]): Promise<Map<PrototypeSetName, Float32Array>> {
    return this.head.maps(features, n, classes, sets);
  }

  /** EvaluationModel: the refined prototypes' maps of classes[j] on image j (runs the model). */
  async prototypeMaps(batch: Float32Array, n: number, classes: ArrayLike<number>): Promise<Float32Array> {
    const { features } = await this.classifier.run(batch, n);
    return (await this.head.maps(features, n, classes, ['refined'])).get('refined')!;
  }

  /** EvaluationModel: softmax of the black box's logits (n x C). */
  async probabilities(batch: Float32Array, n: number): Promise<Float32Array> {
    return softmaxRows(await this.logits(batch, n), n, this.numClasses);
  }

  /** Class c's decomposition in the network (refined prototypes, k x D, and its bias). */
  decomposition(c: number): Decomposition {
    const { k, channels: D } = this.network;
    return { prototypes: this.network.prototypes.subarray(c * k * D, (c + 1) * k * D), k, dim: D, bias: this.network.bias[c] };
  }

  /** Release every session. */
  async close(): Promise<void> {
    await this.head.release();
    await this.blackBox?.release();
    await this.classifier.close();
  }
}
