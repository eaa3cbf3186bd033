/**
 * The classifier adapter: loads an ONNX image classifier, finds its GAP + linear head, extends the
 * graph so one onnxruntime session returns features (n x HW x D) and logits (n x C) in one run, and
 * checks on a real batch that W * GAP(features) + b reproduces the model's logits.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, type ModelProto } from '../onnx/proto.ts';
import { CheckError, InputError, UsageError } from '../util/errors.ts';
import { checkedInteger } from '../util/options.ts';
import { Rng } from '../util/random.ts';
import { GraphIndex } from './graph.ts';
import { detectHead, type DetectedHead, type FeatureMapLayout, type FoldedOp, type LinearInfo, type PoolingInfo } from './head.ts';
import { resolveModelInput, type ModelInput, type ModelInputLayout } from './input.ts';
import { HEAD_CHECK_TOLERANCE, compareLogits, describeComparison, gapLinear, type LogitComparison } from './logit-check.ts';
import { addFeatureOutputs } from './surgery.ts';
import { checkExternalData } from './tensor-data.ts';
import type { NodeRef } from './graph.ts';

/** Images in the load-time logit check. */
/** Upper bound of the check batch (a larger one only costs memory; 100000 inputs exhausted it). */
export const MAX_HEAD_CHECK_BATCH = 256;
export const HEAD_CHECK_BATCH = 2;
/** Seed of the load-time check's random input. */
export const HEAD_CHECK_SEED = 0;

export interface LoadClassifierOptions {
  /** Run size for models with a dynamic spatial input (square S or [H, W]); must match a fixed size. Default: the model's fixed size, else 224. */
  inputSize?: number | [number, number];
  /** Input layout, overriding the guess from the declared shape and the first ops. */
  inputLayout?: ModelInputLayout;
  /** Graph output (or tensor) holding the logits, when several heads or outputs make it ambiguous. */
  logitsOutput?: string;
  /** Grid for N x T x D token features: [H, W] with H * W = T. Default: sqrt(T) x sqrt(T) when T is a perfect square, else 1 x T. */
  tokenGrid?: [number, number];
  /** onnxruntime intra-op threads (default: onnxruntime's own choice, one per physical core). */
  intraOpThreads?: number;
  /** Images in the load-time logit check (default 2, random normal inputs). */
  checkBatch?: number;
  /** Seed of the check's random input (default 0). */
  seed?: number;
  /** Bound on the check's relative error (default 1e-4). */
  tolerance?: number;
}

/** The head as W, b plus how it was found. */
export interface ClassifierHead {
  /** C x D, row-major, float32: logits = W * mean_positions(features) + b. */
  W: Float32Array;
  /** C. */
  b: Float32Array;
  numClasses: number;
  featureDim: number;
  pooling: PoolingInfo;
  linear: LinearInfo;
  /** Affine ops (BatchNormalization, Mul/Add/Sub/Div by constants) folded into W and b. */
  foldedOps: FoldedOp[];
  /** Nodes from pooling to logits. */
  path: NodeRef[];
}

/** How a token sequence N x T x D is shown as a grid. */
export interface TokenGrid {
  tokens: number;
  H: number;
  W: number;
  rule: 'square' | 'row' | 'option';
}

export interface FeatureMapInfo {
  /** The pooled tensor in the original model. */
  tensor: string;
  /** The session output carrying it as n x H x W x D. */
  output: string;
  layout: FeatureMapLayout;
  D: number;
  H: number;
  W: number;
  HW: number;
  /** Non-negative by construction (Relu, Clip with min >= 0, ... right before pooling). */
  nonNegative: boolean;
  nonNegativeBy: string | null;
  /** Token features only: how T maps to H x W. */
  tokenGrid?: TokenGrid;
}

/** Result of a logit check (see logit-check.ts for the definition of relError). */
export interface HeadCheck extends LogitComparison {
  tolerance: number;
  batch: number;
  input: 'random-normal' | 'supplied';
  /** Seed of the random input, null for supplied input. */
  seed: number | null;
}

export interface ClassifierRunResult {
  /** n x HW x D, position-major. */
  features: Float32Array;
  /** n x C, the model's own logits. */
  logits: Float32Array;
}

export interface Classifier {
  /** Absolute path of the .onnx file. */
  path: string;
  /** SHA-256 (hex) of the .onnx file bytes. */
  sha256: string;
  opset: number;
  input: ModelInput;
  head: ClassifierHead;
  features: FeatureMapInfo;
  /** The logits tensor (a graph output of the model, or added as one when only e.g. Softmax of it was). */
  logitsOutput: string;
  logitsIsGraphOutput: boolean;
  /** Fixed batch size of the model (runs are split and padded to it), or null when any batch size works. */
  maxBatch: number | null;
  /** Values per image in run() input: channels x height x width in the model's layout. */
  inputLength: number;
  /** The check run while loading. */
  headCheck: HeadCheck;
  /** Run a batch. input: n images in the model's layout (n x C x H x W or n x H x W x C), float32. */
  run(input: Float32Array, n: number): Promise<ClassifierRunResult>;
  /** Check the head on a batch (seeded random normal input when none is given); throws CheckError above tolerance. */
  checkHead(input?: Float32Array, n?: number): Promise<HeadCheck>;
  /** Release the onnxruntime session. */
  close(): Promise<void>;
}

function readModelFile(path: string): { bytes: Uint8Array; model: ModelProto } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InputError(`cannot read model '${path}': ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message}`);
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    throw new InputError(`'${path}' is not a readable ONNX model: ${(e as Error).message}`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0 || (model.graph.output ?? []).length === 0) {
    throw new InputError(`'${path}' is not a readable ONNX model: it decodes to ${model.graph ? 'a graph without nodes or outputs' : 'no graph'} (${bytes.length} bytes)`);
  }
  return { bytes, model };
}

function tokenGridFor(T: number, opt: [number, number] | undefined): TokenGrid {
  if (opt) {
    if (!opt.every((v) => Number.isInteger(v) && v > 0) || opt[0] * opt[1] !== T) throw new InputError(`tokenGrid: ${opt[0]} x ${opt[1]} does not hold the ${T} tokens of the feature tensor`);
    return { tokens: T, H: opt[0], W: opt[1], rule: 'option' };
  }
  const s = Math.round(Math.sqrt(T));
  return s * s === T ? { tokens: T, H: s, W: s, rule: 'square' } : { tokens: T, H: 1, W: T, rule: 'row' };
}

function randomInput(n: number, perImage: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * perImage);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

/**
 * Load an ONNX classifier with a GAP + linear head. Reads the file (its SHA-256 is kept), detects
 * the head, builds one onnxruntime session returning features and logits, runs one check batch
 * (which also fixes H x W of the feature map) and throws CheckError if the head does not reproduce
 * the logits within the tolerance.
 */
export async function loadClassifier(path: string, opts: LoadClassifierOptions = {}): Promise<Classifier> {
  const absPath = resolve(path);
  const modelDir = dirname(absPath);
  const { bytes, model } = readModelFile(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  checkExternalData(model.graph!.initializer ?? [], modelDir, path);
  const g = new GraphIndex(model, modelDir);
  const input = resolveModelInput(g, path, opts);
  let head: DetectedHead;
  try {
    head = detectHead(g, { logitsOutput: opts.logitsOutput, batchIsOne: input.batch === 1 });
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`model '${path}': ${e.message}`);
    throw e;
  }
  const maxBatch = input.batch ?? head.batchFixedByHead;
  const surgery = addFeatureOutputs(model, { featureTensor: head.featureTensor, featureLayout: head.featureLayout, logitsTensor: head.logitsTensor });

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(surgery.bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4, // engine errors reach the user through the thrown error, not the log
      ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
      // The graph is loaded from memory after surgery: external data resolves against the model's folder.
      extra: { session: { model_external_initializers_file_folder_path: modelDir } },
    });
  } catch (e) {
    throw new InputError(`onnxruntime could not load model '${path}': ${(e as Error).message}`);
  }

  try {
    return await finishLoad(session, path, absPath, sha256, g.opset, input, head, surgery.featuresOutput, surgery.logitsOutput, maxBatch, opts);
  } catch (e) {
    await session.release();
    throw e;
  }
}

/** After the session exists: first run (fixes H x W), checks, and the Classifier object. */
async function finishLoad(
  session: ort.InferenceSession, path: string, absPath: string, sha256: string, opset: number, input: ModelInput, head: DetectedHead,
  featuresOutput: string, logitsOutput: string, maxBatch: number | null, opts: LoadClassifierOptions,
): Promise<Classifier> {
  const inputLength = input.channels * input.height * input.width;
  const dims = (k: number) => (input.layout === 'NCHW' ? [k, input.channels, input.height, input.width] : [k, input.height, input.width, input.channels]);
  const C = head.numClasses;
  const D = head.featureDim;
  let closed = false;

  const runChunk = async (data: Float32Array, k: number) => {
    const out = await session.run({ [input.name]: new ort.Tensor('float32', data, dims(k)) }, [featuresOutput, logitsOutput]);
    const f = out[featuresOutput];
    const l = out[logitsOutput];
    if (f.type !== 'float32' || l.type !== 'float32') throw new InputError(`model '${path}': features are ${f.type} and logits ${l.type}; protolens reads float32 tensors`);
    return { f, l };
  };

  const checkBatch = opts.checkBatch ?? HEAD_CHECK_BATCH;
  const seed = opts.seed ?? HEAD_CHECK_SEED;
  checkedInteger('checkBatch', checkBatch, 1, MAX_HEAD_CHECK_BATCH, UsageError); // a check, not a benchmark: bounded memory

  // First run: fixes the feature map's size (and is the check batch when the batch is dynamic).
  const k0 = maxBatch ?? checkBatch;
  const x0 = randomInput(k0, inputLength, seed);
  let first;
  try {
    first = await runChunk(x0, k0);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const works = input.fixedSize
      ? `sizes that work: ${input.fixedSize.join(' x ')}`
      : `the model declares no fixed size (input '${input.name}' is [${input.shape.map((d) => d ?? '?').join(', ')}]); pass a size the model was built for (inputSize / --input-size)`;
    const source = input.sizeSource === 'default' ? 'the default size' : input.sizeSource === 'option' ? 'from inputSize' : 'fixed by the model';
    const k = head.pooling.kernel;
    const poolHint = k ? `; AveragePool '${head.pooling.node}' has a fixed ${k[0]} x ${k[1]} kernel, so only input sizes giving a ${k[0]} x ${k[1]} feature map make it a global average pooling` : '';
    throw new InputError(`onnxruntime could not run model '${path}' on a ${input.height} x ${input.width} input (${source}): ${(e as Error).message.split('\n')[0]}; ${works}${poolHint}`);
  }
  const fd = first.f.dims.map(Number);
  const expectedRank = head.featureLayout === 'NTD' ? 3 : 4;
  if (fd.length !== expectedRank) {
    throw new InputError(`model '${path}': the pooled tensor '${head.featureTensor}' has shape [${fd.join(', ')}] (channels last), but ${head.pooling.op} '${head.pooling.node}' over axes [${head.pooling.axes.join(', ')}] was read as pooling a rank-${expectedRank} ${head.featureLayout} tensor`);
  }
  // A kernel smaller than the map is checked first: its pooled map is flattened into the linear layer,
  // so the channel counts below would differ too, for this reason.
  const kernel = head.pooling.kernel;
  if (kernel && head.featureLayout !== 'NTD' && (kernel[0] !== fd[1] || kernel[1] !== fd[2])) {
    throw new InputError(`model '${path}': AveragePool '${head.pooling.node}' has a ${kernel[0]} x ${kernel[1]} kernel but the feature map is ${fd[1]} x ${fd[2]} at input size ${input.height} x ${input.width}, so it is not a global average pooling; choose the input size that gives a ${kernel[0]} x ${kernel[1]} map`);
  }
  if (fd[fd.length - 1] !== D) {
    throw new InputError(`model '${path}': the feature tensor '${head.featureTensor}' has ${fd[fd.length - 1]} channels, but the head's linear layer '${head.linear.node}' takes ${D} inputs, so the pooled features do not reach it one per channel: not a GAP + linear head`);
  }
  let H: number, Wd: number, tokenGrid: TokenGrid | undefined;
  if (head.featureLayout === 'NTD') {
    tokenGrid = tokenGridFor(fd[1], opts.tokenGrid);
    [H, Wd] = [tokenGrid.H, tokenGrid.W];
  } else [H, Wd] = [fd[1], fd[2]];
  // A sum over positions is H x W times their mean: fold the factor into W (the logit check verifies it).
  if (head.pooling.op === 'ReduceSum') for (let i = 0; i < head.W.length; i++) head.W[i] = Math.fround(head.W[i] * H * Wd);
  if (Number(first.l.size) !== k0 * C) throw new CheckError(`model '${path}': logits '${logitsOutput}' have shape [${first.l.dims.join(', ')}], expected ${k0} x ${C}`);
  const HW = H * Wd;
  const perFeature = HW * D;

  const run = async (data: Float32Array, n: number): Promise<ClassifierRunResult> => {
    if (!Number.isInteger(n) || n < 1) throw new InputError(`run: batch size must be a positive integer, got ${n}`);
    if (data.length !== n * inputLength) throw new InputError(`run: input has ${data.length} values; ${n} image(s) of ${dims(1).slice(1).join(' x ')} (${input.layout}) need ${n * inputLength}`);
    const features = new Float32Array(n * perFeature);
    const logits = new Float32Array(n * C);
    const step = maxBatch ?? n;
    for (let i = 0; i < n; i += step) {
      const m = Math.min(step, n - i);
      let chunk = data.subarray(i * inputLength, (i + m) * inputLength);
      if (m < step) {
        const padded = new Float32Array(step * inputLength);
        padded.set(chunk);
        chunk = padded;
      }
      const { f, l } = await runChunk(chunk, step);
      const fdata = f.data as Float32Array;
      const ldata = l.data as Float32Array;
      if (fdata.length !== step * perFeature || ldata.length !== step * C) {
        throw new CheckError(`model '${path}': a run returned features [${f.dims.join(', ')}] and logits [${l.dims.join(', ')}], expected ${step} x ${HW} x ${D} and ${step} x ${C}`);
      }
      features.set(fdata.subarray(0, m * perFeature), i * perFeature);
      logits.set(ldata.subarray(0, m * C), i * C);
    }
    return { features, logits };
  };

  const tolerance = opts.tolerance ?? HEAD_CHECK_TOLERANCE;
  const judge = (r: ClassifierRunResult, batch: number, supplied: boolean): HeadCheck => {
    const cmp = compareLogits(gapLinear(r.features, batch, HW, D, head.W, head.b), r.logits, head.b);
    if (!(cmp.relError <= tolerance)) {
      throw new CheckError(
        `model '${path}': linear(GAP(features)) does not reproduce the logits '${logitsOutput}': ${describeComparison(cmp)}` +
          `${cmp.nonFinite ? '' : ` > tolerance ${tolerance}`} on ${batch} ${supplied ? 'supplied' : `random normal (seed ${seed})`} input(s); ` +
          `head: ${head.path.map((p) => `${p.op} '${p.name}'`).join(' -> ')}`,
      );
    }
    return { ...cmp, tolerance, batch, input: supplied ? 'supplied' : 'random-normal', seed: supplied ? null : seed };
  };
  const checkHead = async (supplied?: Float32Array, n?: number): Promise<HeadCheck> => {
    const batch = supplied ? (n ?? supplied.length / inputLength) : (n ?? checkBatch);
    const data = supplied ?? randomInput(batch, inputLength, seed);
    return judge(await run(data, batch), batch, supplied !== undefined);
  };

  const headCheck =
    maxBatch === null
      ? judge({ features: first.f.data as Float32Array, logits: first.l.data as Float32Array }, k0, false)
      : await checkHead(undefined, checkBatch);

  return {
    path: absPath,
    sha256,
    opset,
    input,
    head: { W: head.W, b: head.b, numClasses: C, featureDim: D, pooling: head.pooling, linear: head.linear, foldedOps: head.foldedOps, path: head.path },
    features: { tensor: head.featureTensor, output: featuresOutput, layout: head.featureLayout, D, H, W: Wd, HW, nonNegative: head.nonNegative, nonNegativeBy: head.nonNegativeBy, ...(tokenGrid ? { tokenGrid } : {}) },
    logitsOutput,
    logitsIsGraphOutput: head.logitsIsGraphOutput,
    maxBatch,
    inputLength,
    headCheck,
    run,
    checkHead,
    close: async () => {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
