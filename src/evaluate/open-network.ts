/**
 * Open a network folder and the model it was built from, for evaluation: the model's SHA-256 must be
 * the recorded one and its classes, channels, feature map and input must match the network (else
 * InputError). Unlike explaining, a head that differs from the recorded one is *measured and
 * returned*, not refused: an evaluation exists to show such a failure (fidelity and completeness
 * then fail, and the command exits with code 4).
 */
import { isAbsolute, join, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { validatePreprocessConfig, type PreprocessConfig } from '../data/index.ts';
import { checkPreprocessFits } from '../features/extract.ts';
import { loadClassifier, type Classifier } from '../model/classifier.ts';
import { loadNetwork, MANIFEST_FILE, type Network } from '../prototypes/network.ts';
import { InputError, UsageError } from '../util/errors.ts';

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
 * Load the network (unless given loaded) and its classifier session.
 * @throws InputError: no model file, another SHA-256 (both named), classes / channels / feature map /
 *   input that differ from the network, a recorded preprocessing the model cannot take.
 */
export async function openNetwork(net: Network | string, opts: OpenNetworkOptions = {}): Promise<OpenedNetwork> {
  const network = typeof net === 'string' ? await loadNetwork(net) : net;
  const m = network.manifest;
  const manifestPath = join(network.dir, MANIFEST_FILE);
  const preprocess = validatePreprocessConfig(m.preprocess, manifestPath);
  const recorded = isAbsolute(m.model.path) ? m.model.path : resolve(network.dir, m.model.path);
  const modelPath = resolve(opts.model ?? recorded);
  const st = await stat(modelPath).catch(() => null);
  if (!st || !st.isFile()) {
    const where = opts.model !== undefined ? `model '${opts.model}'` : `the model recorded in ${manifestPath} ('${m.model.path}', resolved to ${recorded})`;
    throw new InputError(`${where} ${st ? 'is not a file' : 'does not exist'}; give the model the network was built from (--model; SHA-256 ${m.model.sha256})`);
  }
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) throw new UsageError(`threads: expected a positive integer, got ${opts.threads}`);
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
    if (classifier.sha256 !== m.model.sha256) {
      throw new InputError(
        `model '${modelPath}' has SHA-256 ${classifier.sha256}, but network '${network.dir}' was built from a model with SHA-256 ${m.model.sha256} (${manifestPath}); ` +
          'evaluate with the model the network was built from (--model)',
      );
    }
    const f = classifier.features;
    if (classifier.head.numClasses !== network.numClasses || classifier.head.featureDim !== network.channels) {
      throw new InputError(`model '${modelPath}' has ${classifier.head.numClasses} classes and ${classifier.head.featureDim} feature channels, network ${manifestPath} has ${network.numClasses} and ${network.channels}`);
    }
    if (f.H !== m.featureMap.height || f.W !== m.featureMap.width) {
      throw new InputError(`model '${modelPath}' gives a ${f.H} x ${f.W} feature map at ${classifier.input.height} x ${classifier.input.width}, network ${manifestPath} records ${m.featureMap.height} x ${m.featureMap.width}`);
    }
    checkPreprocessFits(classifier, preprocess);
    return { network, classifier, preprocess, modelPath, headDifference: headDifference(classifier, network) };
  } catch (e) {
    await classifier.close();
    throw e;
  }
}
