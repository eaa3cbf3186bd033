/**
 * Explained predictions: for each image, the original model's top classes (logits and softmax
 * probabilities) and, for one class (the predicted one unless chosen), the exact split of its logit
 * into per-prototype contributions plus bias, with each prototype's heatmap, strongest-region box and
 * exemplar patches.
 *
 * One onnxruntime session (the classifier adapter's) returns features and logits in one run, so an
 * explanation costs one forward pass plus a k x D by D x HW product and k box searches. Every image is
 * checked: contributions + bias (+ the residual term for allocator 'none') must equal the model's
 * logit within the tolerance, else CheckError.
 *
 *   const ex = await Explainer.open('net/', { top: 5 });
 *   for await (const r of ex.explainImages(['a.jpg', 'b.jpg'], { out: 'explanations/' })) ...
 *   await ex.close();
 */
import { resolve } from 'node:path';
import { DecodeFailure, type RgbImage } from '../data/decode.ts';
import { loadImage } from '../data/load.ts';
import { type ImageItem } from '../data/types.ts';
import { type PreprocessConfig } from '../data/preprocess-config.ts';
import type { Classifier } from '../model/classifier.ts';
import { loadNetwork, prototypeCount, type Network } from '../network/artifact.ts';
import { openNetworkModel } from '../network/open.ts';
import type { ExemplarEntry } from '../network/exemplar-index.ts';
import { CheckError, InputError, UsageError } from '../util/errors.ts';
import { checkedInteger, optional } from '../util/options.ts';
import { resolveClassName } from '../network/class-names.ts';
import { rankClasses, softmax, termMaps } from '../network/contributions.ts';
import { readNetworkExemplars, type NetworkExemplars } from '../network/exemplar-index.ts';
import type { Box } from '../pictures/percentile.ts';
import { DEFAULT_BOX_PERCENTILE, strongestRegion } from '../pictures/strongest-region.ts';
import { PictureWriter, type ImagePictures, type PictureOptions } from './report.ts';
import { EXPLANATION_SCHEMA, EXPLANATION_SCHEMA_VERSION, explanationDocument, imageEntry, type DocumentHeader, type ExplanationDocument, type ImageEntry } from './schema.ts';
import { packageVersion } from '../util/version.ts';

/** Classes reported per image by default (fewer when the model has fewer). */
export const DEFAULT_TOP = 5;
/**
 * Default relative tolerance of the completeness check: |contributions + bias - logit| <=
 * tolerance x max(1, |logit|, sum of |terms|). The same bound as the classifier's load-time check.
 */
export const DEFAULT_COMPLETENESS_TOLERANCE = 1e-4;
/** Images per inference batch by default (the model's own batch size when it fixes one). */
export const DEFAULT_EXPLAIN_BATCH = 8;

export interface ExplainerOptions {
  /** Model file to use instead of the one recorded in the manifest; it must have the recorded SHA-256. */
  model?: string;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  /** Classes reported per image, best first (default 5; at most the number of classes). */
  top?: number;
  /** Explain this class (exact name) instead of the predicted one. */
  className?: string;
  /** Explain this class index instead of the predicted one (library callers; `className` wins). */
  classIndex?: number;
  /** Percentile of the strongest-region box (default 95). */
  percentile?: number;
  /** Compute the strongest-region boxes (default true). */
  boxes?: boolean;
  /** Relative tolerance of the completeness check (default 1e-4, see DEFAULT_COMPLETENESS_TOLERANCE). */
  tolerance?: number;
}

/** A class with its logit and probability. */
export interface ScoredClass {
  index: number;
  name: string;
  /** 1 = highest logit. */
  rank: number;
  logit: number;
  probability: number;
}

/** One prototype (or the residual term) on one image. */
export interface ExplainedTerm {
  /** Prototype index within its class; -1 for the residual term. */
  prototype: number;
  /** mean(x v^T) over the feature map (float64). */
  contribution: number;
  /** contribution / logit, or null when |logit| < 1e-9. */
  share: number | null;
  /** x v^T at feature resolution, featureMap.height x featureMap.width, row-major. */
  heatmap: Float32Array;
  /** Strongest region in input pixels; null for the residual term or when boxes are off. */
  box: Box | null;
  /** Exemplar patches (paths relative to the network folder), best first; empty when the network has none. */
  exemplars: readonly ExemplarEntry[];
}

/** The numbers of one image's explanation. */
export interface Explanation {
  /** All C logits of the model (its own output tensor). */
  logits: Float32Array;
  /** Softmax of all C logits (float64). */
  probabilities: Float64Array;
  /** The top T classes, best first. */
  top: ScoredClass[];
  predicted: ScoredClass;
  explained: ScoredClass & {
    selectedBy: 'predicted' | 'option';
    bias: number;
    prototypes: ExplainedTerm[];
    /** The residual term (allocator 'none'), else null. */
    residual: ExplainedTerm | null;
    /** contributions + residual + bias, float64. */
    sum: number;
    /** sum - logit. */
    difference: number;
  };
  featureMap: { height: number; width: number };
}

/** An image as given: a path, or a dataset item (whose bounding box is used when the network crops to boxes). */
export type ImageSource = string | Pick<ImageItem, 'path' | 'id' | 'bbox' | 'crop'>;

export interface ImageExplanation extends Explanation {
  status: 'ok';
  /** Position in the list of images given. */
  index: number;
  /** The image path as given. */
  image: string;
  /** The image at the input geometry as the model saw it (8-bit RGB), when pictures were asked for. */
  rgb?: RgbImage;
  /** Pictures written for this image (with `out`), paths relative to the output folder. */
  pictures?: ImagePictures;
  notes: string[];
}

export interface ImageFailure {
  status: 'failed';
  index: number;
  image: string;
  /** Short cause, e.g. 'file not found', 'truncated JPEG 500 x 375 (no end-of-image marker)'. */
  reason: string;
}

export type ImageResult = ImageExplanation | ImageFailure;

export interface ExplainImagesOptions extends PictureOptions {
  /** Write pictures, cards, index.html and explanations.json to this folder. */
  out?: string;
  /** Images per inference batch (default 8, or the model's fixed batch size). */
  batchSize?: number;
  /** Keep each image's input RGB on the result (always kept while pictures are drawn). */
  keepRgb?: boolean;
  /** Include heatmaps in explanations.json (default false). */
  heatmaps?: boolean;
  /** Explain this class (index) for these images instead of the Explainer's own choice. */
  classIndex?: number;
}

const positiveInt = (v: number | undefined, name: string, fallback: number): number => optional(v, fallback, (x) => checkedInteger(name, x, 1, Infinity, UsageError));

/** Holds the network, the classifier session and the exemplar index; explains images one batch at a time. */
export class Explainer {
  /** Preprocessing as recorded in the network. */
  readonly preprocess: PreprocessConfig;
  /** The same without the bounding-box crop, for images given without a box. */
  private readonly preprocessWhole: PreprocessConfig;
  readonly top: number;
  readonly percentile: number;
  readonly tolerance: number;
  readonly boxes: boolean;
  /** The class explained by default, or null for the predicted one. */
  readonly classIndex: number | null;
  /** Classes whose residual term is not zero. */
  private readonly hasResidual: boolean[];

  private constructor(
    readonly network: Network,
    readonly classifier: Classifier,
    readonly exemplars: NetworkExemplars | null,
    /** Absolute path of the model file in use. */
    readonly modelPath: string,
    preprocess: PreprocessConfig,
    opts: ExplainerOptions,
  ) {
    this.preprocess = preprocess;
    this.preprocessWhole = { ...preprocess, cropToBox: false };
    const C = network.numClasses;
    this.top = Math.min(positiveInt(opts.top, 'top', DEFAULT_TOP), C);
    this.percentile = opts.percentile ?? DEFAULT_BOX_PERCENTILE;
    if (!(this.percentile >= 0 && this.percentile <= 100)) throw new UsageError(`percentile: expected a number in [0, 100], got ${opts.percentile}`);
    this.tolerance = opts.tolerance ?? DEFAULT_COMPLETENESS_TOLERANCE;
    if (!(this.tolerance >= 0)) throw new UsageError(`tolerance: expected a non-negative number, got ${opts.tolerance}`);
    this.boxes = opts.boxes ?? true;
    if (opts.className !== undefined) this.classIndex = resolveClassName(opts.className, network.manifest.classNames);
    else if (opts.classIndex !== undefined) this.classIndex = this.checkClassIndex(opts.classIndex);
    else this.classIndex = null;
    const D = network.channels;
    this.hasResidual = Array.from({ length: C }, (_, c) => network.residualTerm.subarray(c * D, (c + 1) * D).some((v) => v !== 0));
  }

  /**
   * Open a network (folder or loaded) and its model. The model is the manifest's (resolved against
   * the network folder) unless `opts.model` names another file; either way its SHA-256 must be the
   * recorded one, and its head, feature map and preprocessing must match the network.
   * @throws InputError: no model file, hash mismatch (both hashes and files named), shapes that
   *   differ; UsageError: a class name not in the network (closest names listed); CheckError: the
   *   model's head differs from the network's recorded head.
   */
  static async open(net: Network | string, opts: ExplainerOptions = {}): Promise<Explainer> {
    const network = typeof net === 'string' ? await loadNetwork(net) : net;
    // Resolve the class option before the (slow) model load, so a typo fails fast.
    if (opts.className !== undefined) resolveClassName(opts.className, network.manifest.classNames);
    const { classifier, preprocess, modelPath, manifestPath } = await openNetworkModel(network, {
      model: opts.model,
      threads: opts.threads,
      messages: {
        given: (model) => `--model '${model}'`,
        missing: (sha256) => `pass the model the network was built from with --model (SHA-256 ${sha256})`,
        mismatch: 'explain with the model the network was built from (--model), or build a network for this model',
      },
    });
    try {
      checkHeadAgainstNetwork(classifier, network, manifestPath);
      const exemplars = await readNetworkExemplars(network);
      return new Explainer(network, classifier, exemplars, modelPath, preprocess, opts);
    } catch (e) {
      await classifier.close();
      throw e;
    }
  }

  private checkClassIndex(c: number): number {
    if (!Number.isInteger(c) || c < 0 || c >= this.network.numClasses) throw new UsageError(`classIndex: expected a class index in [0, ${this.network.numClasses - 1}], got ${c}`);
    return c;
  }

  /** The class index of a class name, or a UsageError listing the closest names. */
  classOf(name: string): number {
    return resolveClassName(name, this.network.manifest.classNames);
  }

  /**
   * Explain n preprocessed images (n x channels x H x W or n x H x W x channels in the model's layout,
   * normalised as the network records). `classIndex` overrides the explained class.
   * @throws CheckError when an image's contributions + bias do not reproduce its logit.
   */
  async explainTensor(input: Float32Array, n: number, opts: { classIndex?: number; sources?: readonly string[] } = {}): Promise<Explanation[]> {
    const { features, logits } = await this.classifier.run(input, n);
    const { HW, D } = this.classifier.features;
    const C = this.network.numClasses;
    const chosen = opts.classIndex !== undefined ? this.checkClassIndex(opts.classIndex) : this.classIndex;
    const out: Explanation[] = [];
    for (let j = 0; j < n; j++) {
      const what = opts.sources?.[j] ?? `image ${j}`;
      out.push(this.decompose(features.subarray(j * HW * D, (j + 1) * HW * D), logits.slice(j * C, (j + 1) * C), chosen, what));
    }
    return out;
  }

  /** The explanation of one image from its features (HW x D) and logits (C). */
  private decompose(x: Float32Array, logits: Float32Array, chosen: number | null, what: string): Explanation {
    const net = this.network;
    const names = net.manifest.classNames;
    const { H, W, HW, D } = this.classifier.features;
    const k = net.k;
    const probabilities = softmax(logits);
    const order = rankClasses(logits);
    const rank = new Int32Array(order.length);
    order.forEach((c, r) => (rank[c] = r + 1));
    const scored = (c: number): ScoredClass => ({ index: c, name: names[c], rank: rank[c], logit: logits[c], probability: probabilities[c] });
    const c = chosen ?? order[0];
    const logit = logits[c];
    const share = (v: number) => (Math.abs(logit) >= 1e-9 ? v / logit : null);
    const { maps, contributions } = termMaps(x, HW, D, net.prototypes.subarray(c * k * D, (c + 1) * k * D), k);
    const bias = net.bias[c];
    const { height: inH, width: inW } = this.classifier.input;
    const exemplars = this.exemplars?.byClass[c];
    const prototypes: ExplainedTerm[] = [];
    let sum = bias;
    let scale = Math.max(1, Math.abs(logit), Math.abs(bias));
    let absTerms = Math.abs(bias);
    // k 'auto': class c has prototypeCount(net, c) prototypes; the padded rows are zero and not listed.
    for (let i = 0; i < prototypeCount(net, c); i++) {
      const heatmap = maps.subarray(i * HW, (i + 1) * HW);
      const contribution = contributions[i];
      sum += contribution;
      absTerms += Math.abs(contribution);
      prototypes.push({
        prototype: i,
        contribution,
        share: share(contribution),
        heatmap,
        box: this.boxes ? strongestRegion(heatmap, H, W, inW, inH, this.percentile) : null,
        exemplars: exemplars?.[i] ?? [],
      });
    }
    let residual: ExplainedTerm | null = null;
    if (this.hasResidual[c]) {
      const r = termMaps(x, HW, D, net.residualTerm.subarray(c * D, (c + 1) * D), 1);
      const contribution = r.contributions[0];
      sum += contribution;
      absTerms += Math.abs(contribution);
      residual = { prototype: -1, contribution, share: share(contribution), heatmap: r.maps, box: null, exemplars: [] };
    }
    scale = Math.max(scale, absTerms);
    const difference = sum - logit;
    if (!(Math.abs(difference) <= this.tolerance * scale)) {
      throw new CheckError(
        `${what}: the contributions of class ${c} ('${names[c]}') plus its bias sum to ${sum} but the model's logit is ${logit} ` +
          `(difference ${difference.toExponential(3)} > tolerance ${this.tolerance} x ${scale.toPrecision(4)}); the network does not decompose this model's head`,
      );
    }
    return {
      logits,
      probabilities,
      top: order.slice(0, this.top).map(scored),
      predicted: scored(order[0]),
      explained: { ...scored(c), selectedBy: chosen === null ? 'predicted' : 'option', bias, prototypes, residual, sum, difference },
      featureMap: { height: H, width: W },
    };
  }

  /** Decode and preprocess one image as the network records (the whole image when it has no box). */
  private async load(src: ImageSource, keepRgb: boolean): Promise<{ tensor: Float32Array; rgb?: RgbImage; notes: string[] }> {
    const item = typeof src === 'string' ? { id: src, path: src } : src;
    const notes: string[] = [];
    let cfg = this.preprocess;
    if (cfg.cropToBox && !item.crop && !item.bbox) {
      cfg = this.preprocessWhole;
      notes.push('the network was built on images cropped to their bounding boxes; this image has no box and was used whole, which can change the prediction (give the dataset with --data DIR to use its bounding boxes)');
    }
    const img = await loadImage(item, cfg, { keepRgb });
    return { tensor: img.tensor, ...(img.rgb ? { rgb: img.rgb } : {}), notes };
  }

  /**
   * Explain one image file.
   * @throws DecodeFailure (an InputError naming the file) when it cannot be decoded.
   */
  async explainImage(src: ImageSource, opts: { classIndex?: number; keepRgb?: boolean; index?: number } = {}): Promise<ImageExplanation> {
    const image = typeof src === 'string' ? src : src.path;
    const l = await this.load(src, opts.keepRgb ?? false);
    const [e] = await this.explainTensor(l.tensor, 1, { classIndex: opts.classIndex, sources: [image] });
    return { ...e, status: 'ok', index: opts.index ?? 0, image, ...(l.rgb ? { rgb: l.rgb } : {}), notes: l.notes };
  }

  /**
   * Explain images in the order given, in batches (the next batch decodes while one runs). An image
   * that cannot be decoded yields an ImageFailure and the others go on. With `out`, each explained
   * image gets its pictures and card as it is yielded, and index.html and explanations.json are
   * written when the last image is done.
   */
  async *explainImages(images: readonly ImageSource[], opts: ExplainImagesOptions = {}): AsyncGenerator<ImageResult> {
    const fixed = this.classifier.maxBatch;
    const batch = fixed ?? positiveInt(opts.batchSize, 'batchSize', DEFAULT_EXPLAIN_BATCH);
    const writer = opts.out !== undefined ? await PictureWriter.create(this, opts.out, opts) : null;
    const keepRgb = writer !== null || (opts.keepRgb ?? false);
    const entries: ImageEntry[] = [];
    const len = this.classifier.inputLength;
    type Loaded = { index: number; image: string } & ({ ok: true; tensor: Float32Array; rgb?: RgbImage; notes: string[] } | { ok: false; reason: string });
    const loadBatch = (start: number): Promise<Loaded[]> =>
      Promise.all(
        images.slice(start, start + batch).map(async (src, j): Promise<Loaded> => {
          const index = start + j;
          const image = typeof src === 'string' ? src : src.path;
          try {
            return { index, image, ok: true, ...(await this.load(src, keepRgb)) };
          } catch (e) {
            if (e instanceof DecodeFailure) return { index, image, ok: false, reason: e.reason };
            if (e instanceof InputError) return { index, image, ok: false, reason: e.message };
            throw e;
          }
        }),
      );
    let next: Promise<Loaded[]> | null = images.length > 0 ? loadBatch(0) : null;
    for (let start = 0; next; start += batch) {
      const loaded = await next;
      next = start + batch < images.length ? loadBatch(start + batch) : null;
      next?.catch(() => undefined); // surfaced when awaited
      const ok = loaded.filter((l): l is Extract<Loaded, { ok: true }> => l.ok);
      let explained: Explanation[] = [];
      if (ok.length > 0) {
        const input = new Float32Array(ok.length * len);
        ok.forEach((l, j) => input.set(l.tensor, j * len));
        explained = await this.explainTensor(input, ok.length, { sources: ok.map((l) => l.image), ...(opts.classIndex !== undefined ? { classIndex: opts.classIndex } : {}) });
      }
      let j = 0;
      for (const l of loaded) {
        let r: ImageResult;
        if (l.ok) {
          r = { ...explained[j++], status: 'ok', index: l.index, image: l.image, notes: l.notes, ...(l.rgb ? { rgb: l.rgb } : {}) };
          if (writer) r.pictures = await writer.write(r);
        } else r = { status: 'failed', index: l.index, image: l.image, reason: l.reason };
        if (writer) entries.push(imageEntry(r, { heatmaps: opts.heatmaps ?? false }));
        yield r;
      }
    }
    if (writer) await writer.finish(this.document(entries, writer.dir));
  }

  /** Header of the JSON document for this explainer's settings. */
  header(out: string | null = null): DocumentHeader {
    const m = this.network.manifest;
    const allocator = (m.options as { allocator?: unknown })?.allocator;
    return {
      schema: EXPLANATION_SCHEMA,
      version: EXPLANATION_SCHEMA_VERSION,
      generator: { name: 'protolens', version: packageVersion() },
      network: { dir: resolve(this.network.dir), classes: this.network.numClasses, k: this.network.k, seed: m.seed, allocator: typeof allocator === 'string' ? allocator : null },
      model: { path: this.modelPath, sha256: this.classifier.sha256 },
      preprocess: this.preprocess,
      settings: {
        top: this.top,
        class: this.classIndex === null ? null : m.classNames[this.classIndex],
        percentile: this.percentile,
        tolerance: this.tolerance,
      },
      out: out === null ? null : resolve(out),
      index: out === null ? null : 'index.html',
    };
  }

  /** The JSON document for entries made with `imageEntry`, in input order. */
  document(entries: readonly ImageEntry[], out: string | null = null): ExplanationDocument {
    return explanationDocument(this.header(out), entries);
  }

  /** Release the onnxruntime session. */
  async close(): Promise<void> {
    await this.classifier.close();
  }
}

/** The classifier's head must be the network's recorded one (classes and channels already match). */
function checkHeadAgainstNetwork(clf: Classifier, net: Network, manifestPath: string): void {
  const C = clf.head.numClasses;
  const D = clf.head.featureDim;
  let maxW = 0, maxDiff = 0;
  for (let i = 0; i < C * D; i++) {
    maxW = Math.max(maxW, Math.abs(net.headWeight[i]));
    maxDiff = Math.max(maxDiff, Math.abs(net.headWeight[i] - clf.head.W[i]));
  }
  let maxB = 0;
  for (let c = 0; c < C; c++) maxB = Math.max(maxB, Math.abs(net.bias[c] - clf.head.b[c]));
  if (!(maxDiff <= 1e-6 * Math.max(maxW, 1e-30)) || !(maxB <= 1e-6 * Math.max(1, maxW))) {
    throw new CheckError(`model '${clf.path}': its head (W, b) differs from the head recorded in network ${manifestPath} (max |dW| ${maxDiff.toExponential(2)}, max |db| ${maxB.toExponential(2)}) although the file hashes match; the network's tensors were altered`);
  }
}

/**
 * Open a network and its model, explain `images` in order, and release the session at the end.
 * Accepts the options of `Explainer.open` and `explainImages`.
 */
export async function* explainImages(net: Network | string, images: readonly ImageSource[], opts: ExplainerOptions & ExplainImagesOptions = {}): AsyncGenerator<ImageResult> {
  const ex = await Explainer.open(net, opts);
  try {
    yield* ex.explainImages(images, opts);
  } finally {
    await ex.close();
  }
}
