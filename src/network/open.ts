/**
 * Open the model a network was built from: the manifest's model file (resolved against the network
 * folder) or another file the caller names, which must have the recorded SHA-256 (checked on the
 * file's bytes before the model is loaded, so a wrong file fails fast), and whose classes, feature
 * channels, feature map and input must match the network. What to do about the head (refuse a
 * different one, or measure it) is the caller's choice.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { validatePreprocessConfig, type PreprocessConfig } from '../data/index.ts';
import { checkPreprocessFits } from '../features/extract.ts';
import { loadClassifier, type Classifier } from '../model/classifier.ts';
import { InputError, UsageError } from '../util/errors.ts';
import { MANIFEST_FILE, type Network } from './artifact.ts';

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
