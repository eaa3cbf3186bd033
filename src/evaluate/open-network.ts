/**
 * Open a network folder and the model it was built from, for evaluation: the model's SHA-256 must be
 * the recorded one and its classes, channels, feature map and input must match the network (else
 * InputError). Unlike explaining, a head that differs from the recorded one is *measured and
 * returned*, not refused: an evaluation exists to show such a failure (fidelity and completeness
 * then fail, and the command exits with code 4).
 */
import type { PreprocessConfig } from '../data/index.ts';
import type { Classifier } from '../model/classifier.ts';
import { loadNetwork, type Network } from '../network/artifact.ts';
import { openNetworkModel } from '../network/open.ts';

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
 * Load the network (unless given loaded) and its classifier session (`openNetworkModel`).
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
