/**
 * Opening a network's model, the one way every command does it: the manifest's model file (resolved
 * against the network folder) or another file the caller names, which must have the recorded SHA-256
 * (checked on the file's bytes before the model is loaded, so a wrong file fails fast), and whose
 * classes, feature channels, feature map and input must match the network. What to do about the head
 * (refuse a different one, as explaining does, or measure it, as evaluating does: `openNetwork`
 * returns how far it is from the recorded one) is the caller's choice.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { validatePreprocessConfig, type PreprocessConfig } from '../data/preprocess-config.ts';
import { checkPreprocessFits } from '../features/extract.ts';
import { loadClassifier, type Classifier } from '../model/classifier.ts';
import { InputError, UsageError } from '../util/errors.ts';
import { loadNetwork, MANIFEST_FILE, type Network } from './artifact.ts';

/** The wording of the errors, in the terms of the command that opens the model. */
export interface NetworkModelMessages {
  /** How a model file the caller named is referred to, e.g. `--model 'other.onnx'`. */
  given(model: string): string;
  /** What to do when the model file is missing (follows "does not exist; "), given the recorded SHA-256. */
  missing(sha256: string): string;
  /** What to do when the SHA-256 differs (follows the two hashes and "; "). */
  mismatch: string;
}

export interface OpenNetworkModelOptions {
  /** Model file instead of the manifest's; it must have the recorded SHA-256. */
  model?: string;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  messages: NetworkModelMessages;
}

export interface NetworkModel {
  classifier: Classifier;
  /** The network's recorded preprocessing, validated. */
  preprocess: PreprocessConfig;
  /** Absolute path of the model file used. */
  modelPath: string;
  /** Path of the network's manifest (named in errors). */
  manifestPath: string;
}

/** SHA-256 of a file, hex, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Open the network's model and check it against the network; the classifier session is closed again
 * when a check fails.
 * @throws InputError: an invalid recorded preprocessing, no model file, another SHA-256 (both hashes
 *   and files named), classes / channels / feature map that differ from the network, a recorded
 *   preprocessing the model cannot take; UsageError: `threads` not a positive integer.
 */
export async function openNetworkModel(network: Network, opts: OpenNetworkModelOptions): Promise<NetworkModel> {
  const m = network.manifest;
  const manifestPath = join(network.dir, MANIFEST_FILE);
  const preprocess = validatePreprocessConfig(m.preprocess, manifestPath);
  const recorded = isAbsolute(m.model.path) ? m.model.path : resolve(network.dir, m.model.path);
  const modelPath = resolve(opts.model ?? recorded);
  const st = await stat(modelPath).catch(() => null);
  if (!st || !st.isFile()) {
    const where = opts.model !== undefined ? opts.messages.given(opts.model) : `the model recorded in ${manifestPath} ('${m.model.path}', resolved to ${recorded})`;
    throw new InputError(`${where} ${st ? 'is not a file' : 'does not exist'}; ${opts.messages.missing(m.model.sha256)}`);
  }
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) throw new UsageError(`threads: expected a positive integer, got ${opts.threads}`);
  const sha = await sha256File(modelPath);
  if (sha !== m.model.sha256) {
    throw new InputError(
      `model '${modelPath}' has SHA-256 ${sha}, but network '${network.dir}' was built from a model with SHA-256 ${m.model.sha256} (${manifestPath}); ${opts.messages.mismatch}`,
    );
  }
  const build = (m.options?.build ?? {}) as { tokenGrid?: unknown };
  const tokenGrid = Array.isArray(build.tokenGrid) && build.tokenGrid.length === 2 ? (build.tokenGrid as [number, number]) : undefined;
  const classifier = await loadClassifier(modelPath, {
    inputSize: [m.input.height, m.input.width],
    inputLayout: preprocess.layout,
    logitsOutput: m.model.logitsOutput,
    ...(tokenGrid ? { tokenGrid } : {}),
    ...(opts.threads !== undefined ? { intraOpThreads: opts.threads } : {}),
  });
  try {
    const f = classifier.features;
    if (classifier.head.numClasses !== network.numClasses || classifier.head.featureDim !== network.channels) {
      throw new InputError(`model '${modelPath}' has ${classifier.head.numClasses} classes and ${classifier.head.featureDim} feature channels, network ${manifestPath} has ${network.numClasses} and ${network.channels}`);
    }
    if (f.H !== m.featureMap.height || f.W !== m.featureMap.width) {
      throw new InputError(`model '${modelPath}' gives a ${f.H} x ${f.W} feature map at ${classifier.input.height} x ${classifier.input.width}, network ${manifestPath} records ${m.featureMap.height} x ${m.featureMap.width}`);
    }
    checkPreprocessFits(classifier, preprocess);
    return { classifier, preprocess, modelPath, manifestPath };
  } catch (e) {
    await classifier.close();
    throw e;
  }
}

export interface OpenNetworkOptions {
  /** Model file instead of the manifest's; it must have the recorded SHA-256. */
  model?: string;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
}

/** How far the model's head (W, b) is from the one recorded in the network (0 for an untouched network). */
export interface HeadDifference {
  maxAbsW: number;
  maxAbsB: number;
  /** maxAbsW / max |W|. */
  relW: number;
}

export interface OpenedNetwork {
  network: Network;
  classifier: Classifier;
  /** The network's recorded preprocessing. */
  preprocess: PreprocessConfig;
  /** Absolute path of the model file used. */
  modelPath: string;
  headDifference: HeadDifference;
}

/** max |model W - recorded W|, max |model b - recorded b|. */
export function headDifference(clf: Pick<Classifier, 'head'>, net: Pick<Network, 'headWeight' | 'bias'>): HeadDifference {
  let maxW = 0;
  let maxAbsW = 0;
  for (let i = 0; i < net.headWeight.length; i++) {
    maxW = Math.max(maxW, Math.abs(clf.head.W[i]));
    maxAbsW = Math.max(maxAbsW, Math.abs(clf.head.W[i] - net.headWeight[i]));
  }
  let maxAbsB = 0;
  for (let c = 0; c < net.bias.length; c++) maxAbsB = Math.max(maxAbsB, Math.abs(clf.head.b[c] - net.bias[c]));
  return { maxAbsW, maxAbsB, relW: maxAbsW / Math.max(maxW, 1e-30) };
}

/**
 * Load the network (unless given loaded) and its classifier session (`openNetworkModel`), with the
 * wording of evaluation; a head that differs from the recorded one is measured, not refused.
 * @throws InputError: no model file, another SHA-256 (both named), classes / channels / feature map /
 *   input that differ from the network, a recorded preprocessing the model cannot take.
 */
export async function openNetwork(net: Network | string, opts: OpenNetworkOptions = {}): Promise<OpenedNetwork> {
  const network = typeof net === 'string' ? await loadNetwork(net) : net;
  const { classifier, preprocess, modelPath } = await openNetworkModel(network, {
    model: opts.model,
    threads: opts.threads,
    messages: {
      given: (model) => `model '${model}'`,
      missing: (sha256) => `give the model the network was built from (--model; SHA-256 ${sha256})`,
      mismatch: 'evaluate with the model the network was built from (--model)',
    },
  });
  return { network, classifier, preprocess, modelPath, headDifference: headDifference(classifier, network) };
}
