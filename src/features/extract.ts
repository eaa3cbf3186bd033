/**
 * Streamed feature extraction: one class's images are decoded in prefetched batches (src/data),
 * run through the classifier, and their feature maps (n x HW x D) and logits (n x C) gathered into
 * one class buffer. Images that cannot be decoded are skipped and reported (or, with `strict`, end
 * the extraction with an error naming the file). Memory: one class's features plus the batches in
 * flight, whatever the dataset's size.
 */
import { batches, type BatchStream } from '../data/batches.ts';
import { type Failure, type ImageItem } from '../data/types.ts';
import { type PreprocessConfig } from '../data/preprocess-config.ts';
import type { Classifier } from '../model/classifier.ts';
import { compareLogits, describeComparison, gapLinear, type LogitComparison } from '../model/logit-check.ts';
import { CheckError, InputError, ProtolensError, ExitCode } from '../util/errors.ts';
import type { ClassFeatures } from './store.ts';

/** Images per inference batch when the model does not fix one. */
export const DEFAULT_EXTRACT_BATCH = 32;

/** Thrown when an AbortSignal stops an extraction or a build. Exit code 1 (the CLI maps SIGINT to 130). */
export class BuildInterrupted extends ProtolensError {
  constructor(message = 'interrupted') {
    super(message, ExitCode.internal);
    this.name = 'BuildInterrupted';
  }
}

/** Throw BuildInterrupted when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const r: unknown = signal.reason;
  throw r instanceof Error && !(r instanceof DOMException) ? r : new BuildInterrupted(typeof r === 'string' ? r : 'interrupted');
}

export interface ExtractOptions {
  /** Images per batch (default: the model's fixed batch size, else 32). */
  batchSize?: number;
  /** Batches decoded ahead of the one being run (default 2). */
  prefetch?: number;
  /** Images decoding at once (default: the data layer's, UV_THREADPOOL_SIZE or 4). */
  concurrency?: number;
  /** Make the first undecodable image an InputError naming it (default false: skip and report). */
  strict?: boolean;
  /** Checked between batches; an aborted signal ends the extraction with BuildInterrupted. */
  signal?: AbortSignal;
  /** Called after each batch with the number of images it consumed (decoded or failed). */
  onImages?: (count: number) => void;
  /**
   * Check the head on the first non-empty batch of real images: W · GAP(features) + b against the
   * model's own logits, relative error (max |diff| / max |logit|) at most this; a larger one is a
   * CheckError. The comparison is returned in `headCheck`. Off when undefined.
   */
  verifyHead?: number;
  /** Keep each image's input picture as JPEG at this quality (see BatchOptions.keepPictures). */
  keepPictures?: { quality: number };
  /**
   * This class's batches, opened (and started) beforehand with `openClassBatches` and the same
   * options, so that its images decode while the previous class runs through the model.
   */
  stream?: BatchStream;
}

/**
 * The batch stream `extractClass` reads for `items`, started now: open the next class's while the
 * current one is in inference.
 */
export function openClassBatches(classifier: Pick<Classifier, 'maxBatch'>, items: readonly ImageItem[], cfg: PreprocessConfig, opts: ExtractOptions = {}): BatchStream {
  return batches(items, cfg, {
    batchSize: opts.batchSize ?? classifier.maxBatch ?? DEFAULT_EXTRACT_BATCH,
    prefetch: opts.prefetch,
    concurrency: opts.concurrency,
    strict: opts.strict,
    ...(opts.keepPictures ? { keepPictures: opts.keepPictures } : {}),
  }).start();
}

/** The head check on real images (see ExtractOptions.verifyHead). */
export interface ImageHeadCheck extends LogitComparison {
  images: number;
  tolerance: number;
}

/**
 * Check that `cfg` produces the tensors `classifier` takes: 3 channels, its run size, its layout.
 * @throws InputError naming the model and the mismatch.
 */
export function checkPreprocessFits(classifier: Pick<Classifier, 'path' | 'input'>, cfg: PreprocessConfig): void {
  const inp = classifier.input;
  if (inp.channels !== 3) {
    throw new InputError(`model '${classifier.path}': input '${inp.name}' has ${inp.channels} channels; images are decoded to 3 (RGB), so the model must take 3`);
  }
  if (cfg.size[0] !== inp.height || cfg.size[1] !== inp.width) {
    throw new InputError(`preprocessing size ${cfg.size[0]} x ${cfg.size[1]} differs from the size model '${classifier.path}' runs at (${inp.height} x ${inp.width})`);
  }
  if (cfg.layout !== inp.layout) {
    throw new InputError(`preprocessing layout ${cfg.layout} differs from the input layout of model '${classifier.path}' (${inp.layout})`);
  }
}

/**
 * Extract one class: features and logits of every image of `items` that decodes, in item order.
 * The result's `items` are the ids of the images used; `failures` lists the others with a reason.
 * @throws InputError (strict, or a preprocessing that does not fit the model), BuildInterrupted.
 */
export async function extractClass(classifier: Classifier, classIndex: number, items: readonly ImageItem[], cfg: PreprocessConfig, opts: ExtractOptions = {}): Promise<ClassFeatures & { headCheck?: ImageHeadCheck }> {
  checkPreprocessFits(classifier, cfg);
  throwIfAborted(opts.signal);
  const { HW, D } = classifier.features;
  const C = classifier.head.numClasses;
  const per = HW * D;
  const features = new Float32Array(items.length * per);
  const logits = new Float32Array(items.length * C);
  const ids: string[] = [];
  const pictures: Uint8Array[] = [];
  const failures: Failure[] = [];
  const stream = opts.stream ?? openClassBatches(classifier, items, cfg, opts);
  let n = 0;
  let headCheck: ImageHeadCheck | undefined;
  try {
    for await (const b of stream) {
      throwIfAborted(opts.signal);
      const m = b.items.length;
      failures.push(...b.failures);
      if (m > 0) {
        const r = await classifier.run(b.tensor, m);
        if (opts.verifyHead !== undefined && headCheck === undefined) headCheck = verifyHeadOnImages(classifier, r, m, opts.verifyHead, b.items[0].path);
        features.set(r.features, n * per);
        logits.set(r.logits, n * C);
        for (const it of b.items) ids.push(it.id);
        pictures.push(...b.pictures);
        n += m;
      }
      opts.onImages?.(m + b.failures.length);
    }
  } finally {
    await stream.return();
  }
  // Own exactly n images' worth (a transferable buffer for worker threads).
  const f = n === items.length ? features : features.slice(0, n * per);
  const l = n === items.length ? logits : logits.slice(0, n * C);
  return {
    classIndex,
    features: f,
    logits: l,
    items: ids,
    n,
    failures: failures.map((x) => ({ path: x.path, reason: x.reason })),
    ...(opts.keepPictures ? { pictures } : {}),
    ...(headCheck ? { headCheck } : {}),
  };
}

/**
 * The load-time check runs on random input; this one runs on the first batch of real images, whose
 * features and logits are already at hand (no extra inference).
 * @throws CheckError when the head does not reproduce the logits within `tolerance`.
 */
function verifyHeadOnImages(classifier: Classifier, r: { features: Float32Array; logits: Float32Array }, m: number, tolerance: number, firstImage: string): ImageHeadCheck {
  const { HW, D } = classifier.features;
  const cmp = compareLogits(gapLinear(r.features, m, HW, D, classifier.head.W, classifier.head.b), r.logits, classifier.head.b);
  if (!(cmp.relError <= tolerance)) {
    throw new CheckError(
      `model '${classifier.path}': on ${m} training images (from ${firstImage}), W · GAP(features) + b differs from the model's logits: ${describeComparison(cmp)}${cmp.nonFinite ? '' : ` > ${tolerance}`}; the detected head does not explain this model on real data`,
    );
  }
  return { ...cmp, images: m, tolerance };
}
