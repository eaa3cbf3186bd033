/**
 * `exportExplainedModel`: the explained model as one ONNX file. It takes the same input as the
 * original classifier and outputs the model's own logits, every prototype's contribution, the bias,
 * and (by choice) the prototype heatmaps, so that contributions.sum(-1) (+ residual_contribution) +
 * bias = logits. The graph is the original one, untouched, plus the subgraph of
 * explanation-graph.ts; class names, k, the network schema and the source model's SHA-256 go into
 * metadata_props.
 *
 * Before anything is written the exported model runs once in onnxruntime on a seeded random batch:
 * its logits must equal the original model's (relative 1e-6) and contributions + bias must give the
 * logits (relative 1e-4), else CheckError. The file is written atomically.
 *
 *   const r = await exportExplainedModel({ net: 'net/', out: 'explained.onnx' });
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../io/atomic.ts';
import { isSameOrInside } from '../io/paths.ts';
import type { Classifier } from '../model/classifier.ts';
import { isExternal } from '../model/tensor-data.ts';
import { decodeModel, encodeModel, type ModelProto } from '../onnx/proto.ts';
import { loadNetwork, MANIFEST_FILE, NETWORK_SCHEMA, NETWORK_SCHEMA_VERSION, TENSORS_FILE, type Network } from '../network/artifact.ts';
import { EXEMPLARS_DIR } from '../network/exemplar-index.ts';
import { PUBLISH_DIR, REPLACED_DIR } from '../network/publish.ts';
import { openNetworkModel } from '../network/open.ts';
import { CheckError, InputError, UsageError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import { packageVersion } from '../util/version.ts';
import { addExplanationOutputs, HEATMAP_MODES, type ExplanationOutputNames, type ExportedOutput, type HeatmapMode } from './explanation-graph.ts';

export { HEATMAP_MODES, type HeatmapMode, type ExportedOutput, type ExplanationOutputNames } from './explanation-graph.ts';

/** Schema name of the exported model's metadata (key `protolens.schema`). */
export const EXPORT_SCHEMA = 'protolens.explained-model';
export const EXPORT_SCHEMA_VERSION = 1;
/** Default heatmap mode. */
export const DEFAULT_EXPORT_HEATMAPS: HeatmapMode = 'all';
/** Images in the verification run (the model's own batch size when it fixes one). */
export const EXPORT_CHECK_BATCH = 2;
/** Seed of the verification run's random normal input. */
export const EXPORT_CHECK_SEED = 0;
/** Relative bound on |exported logits - original logits| / max(1, max |logit|). */
export const EXPORT_LOGITS_TOLERANCE = 1e-6;
/** Relative bound of the completeness check, as in explain: |sum - logit| <= tol x max(1, |logit|, sum |terms|). */
export const EXPORT_COMPLETENESS_TOLERANCE = 1e-4;

export interface ExportExplainedModelOptions {
  /** Network folder (or a loaded network). */
  net: Network | string;
  /** Output .onnx file. */
  out: string;
  /** Model file instead of the manifest's; it must have the recorded SHA-256. */
  model?: string;
  /** Heatmaps: every class (`all`, default), the argmax class only (`top`), or none. */
  heatmaps?: HeatmapMode;
  /** onnxruntime intra-op threads for the load and verification runs. */
  threads?: number;
}

/** The verification run on the exported model. */
export interface ExportCheck {
  batch: number;
  seed: number;
  /** max |exported logits - original logits| / max(1, max |logit|). */
  logitsRelError: number;
  /** Whether the exported logits are bit-identical to the original model's. */
  logitsBitEqual: boolean;
  /** Largest |contributions + residual + bias - logit| / max(1, |logit|, sum |terms|). */
  completenessRelError: number;
}

export interface ExportResult {
  /** Absolute path of the written file. */
  path: string;
  /** SHA-256 of the written file. */
  sha256: string;
  /** Bytes written. */
  bytes: number;
  /** SHA-256 of the source model (as recorded in the network). */
  sourceSha256: string;
  sourceModel: string;
  inputName: string;
  heatmaps: HeatmapMode;
  numClasses: number;
  k: number;
  /** True when the network has a residual term (allocator `none`): `residual_contribution` is output. */
  residual: boolean;
  /** Every output the export adds (and the logits), with shapes. */
  outputs: ExportedOutput[];
  names: ExplanationOutputNames;
  /** The metadata_props written (key → value). */
  metadata: Record<string, string>;
  check: ExportCheck;
}

function readBack(path: string, bytes: Uint8Array): ModelProto {
  try {
    return decodeModel(bytes);
  } catch (e) {
    throw new InputError(`'${path}' is not a readable ONNX model: ${(e as Error).message}`);
  }
}

function metadataFor(network: Network, clf: Classifier, sourceSha: string, heatmaps: HeatmapMode, names: ExplanationOutputNames, outputs: ExportedOutput[], residual: boolean): Record<string, string> {
  const m = network.manifest;
  return {
    'protolens.schema': EXPORT_SCHEMA,
    'protolens.schema_version': String(EXPORT_SCHEMA_VERSION),
    'protolens.generator': `protolens ${packageVersion()}`,
    'protolens.network_schema': `${NETWORK_SCHEMA}@${m.schemaVersion ?? NETWORK_SCHEMA_VERSION}`,
    'protolens.source_sha256': sourceSha,
    'protolens.class_names': JSON.stringify(m.classNames),
    'protolens.k': String(network.k),
    // Prototypes of each class: with k 'auto' the contributions beyond a class's count are exactly 0.
    'protolens.prototype_counts': JSON.stringify(Array.from(network.prototypeCounts)),
    'protolens.heatmaps': heatmaps,
    'protolens.residual': residual ? 'residual_contribution' : 'none',
    'protolens.bias': JSON.stringify(Array.from(network.bias)),
    'protolens.outputs': JSON.stringify(names),
    'protolens.output_shapes': JSON.stringify(Object.fromEntries(outputs.map((o) => [o.name, o.shape]))),
    'protolens.input': JSON.stringify({ name: clf.input.name, layout: clf.input.layout, channels: clf.input.channels, height: clf.input.height, width: clf.input.width }),
    'protolens.feature_map': JSON.stringify({ height: clf.features.H, width: clf.features.W, channels: clf.features.D }),
    'protolens.preprocess': JSON.stringify(m.preprocess),
    'protolens.seed': String(m.seed),
  };
}

/** Run the exported bytes and the original classifier on the same seeded batch and compare. */
async function verifyExport(bytes: Uint8Array, clf: Classifier, names: ExplanationOutputNames, C: number, k: number, bias: Float32Array, threads: number | undefined): Promise<ExportCheck> {
  const batch = clf.maxBatch ?? EXPORT_CHECK_BATCH;
  const rng = new Rng(EXPORT_CHECK_SEED);
  const x = new Float32Array(batch * clf.inputLength);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const reference = await clf.run(x, batch);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 4, ...(threads ? { intraOpNumThreads: threads } : {}) });
  } catch (e) {
    throw new CheckError(`the exported model does not load in onnxruntime: ${(e as Error).message}`);
  }
  try {
    const inp = clf.input;
    const dims = inp.layout === 'NCHW' ? [batch, inp.channels, inp.height, inp.width] : [batch, inp.height, inp.width, inp.channels];
    const fetch = [names.logits, names.contributions, ...(names.residualContribution ? [names.residualContribution] : [])];
    const out = await session.run({ [inp.name]: new ort.Tensor('float32', x, dims) }, fetch);
    const logits = out[names.logits].data as Float32Array;
    const contributions = out[names.contributions].data as Float32Array;
    const residual = names.residualContribution ? (out[names.residualContribution].data as Float32Array) : null;
    let maxLogit = 0, maxDiff = 0, bitEqual = logits.length === reference.logits.length;
    for (let i = 0; i < reference.logits.length; i++) {
      maxLogit = Math.max(maxLogit, Math.abs(reference.logits[i]));
      maxDiff = Math.max(maxDiff, Math.abs(logits[i] - reference.logits[i]));
      if (!Object.is(logits[i], reference.logits[i])) bitEqual = false;
    }
    const logitsRelError = maxDiff / Math.max(1, maxLogit);
    if (!(logitsRelError <= EXPORT_LOGITS_TOLERANCE)) {
      throw new CheckError(`the exported model's logits differ from model '${clf.path}': max |diff| ${maxDiff.toExponential(3)}, relative ${logitsRelError.toExponential(3)} > ${EXPORT_LOGITS_TOLERANCE}`);
    }
    let worst = 0;
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < C; c++) {
        let sum = bias[c];
        let abs = Math.abs(bias[c]);
        for (let i = 0; i < k; i++) {
          const v = contributions[(n * C + c) * k + i];
          sum += v;
          abs += Math.abs(v);
        }
        if (residual) {
          sum += residual[n * C + c];
          abs += Math.abs(residual[n * C + c]);
        }
        const logit = logits[n * C + c];
        const rel = Math.abs(sum - logit) / Math.max(1, Math.abs(logit), abs);
        if (!(rel <= EXPORT_COMPLETENESS_TOLERANCE)) {
          throw new CheckError(
            `exported model, check image ${n} (seed ${EXPORT_CHECK_SEED}), class ${c}: contributions + bias = ${sum} but the logit is ${logit} ` +
              `(relative ${rel.toExponential(3)} > ${EXPORT_COMPLETENESS_TOLERANCE}); the network's prototypes do not decompose this model's head`,
          );
        }
        worst = Math.max(worst, rel);
      }
    }
    return { batch, seed: EXPORT_CHECK_SEED, logitsRelError, logitsBitEqual: bitEqual, completenessRelError: worst };
  } finally {
    await session.release();
  }
}

/**
 * The output must not be an input: not the source model, not a file of the network folder the network
 * owns (manifest, tensors, exemplars, a publish in progress), and an existing file is replaced only
 * when protolens wrote it (an ONNX model carrying protolens export metadata).
 * @throws InputError naming the output and what it is.
 */
async function refuseOverwritingInputs(outPath: string, given: string, network: Network, modelPath: string): Promise<void> {
  if (await isSameOrInside(outPath, modelPath)) throw new InputError(`out '${given}' is the model the network was built from (${modelPath}); write the explained model to another file`);
  for (const name of [MANIFEST_FILE, network.manifest.tensors ?? TENSORS_FILE, EXEMPLARS_DIR, PUBLISH_DIR, REPLACED_DIR]) {
    if (await isSameOrInside(outPath, join(network.dir, name))) throw new InputError(`out '${given}' is part of network ${network.dir} (${name}); write the explained model to another file`);
  }
  const existing = await readFile(outPath).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : Promise.reject(new InputError(`out '${given}': cannot be read (${e.code ?? e.message})`))));
  if (existing === null) return;
  let ours = false;
  try {
    ours = (decodeModel(existing).metadataProps ?? []).some((p) => p.key === 'protolens.generator');
  } catch {
    ours = false;
  }
  if (!ours) throw new InputError(`out '${given}' exists and is not a model protolens exported; protolens does not overwrite files it did not write, so choose another path or remove it`);
}

/**
 * Export a network and its model as one ONNX file (see the module comment for the outputs).
 * @throws UsageError: an unknown heatmap mode or an empty `out`; InputError: no network, no model
 *   file, a model with another SHA-256 than the network records (both named), a model with external
 *   data, `out` a directory; CheckError: the exported model does not reproduce the logits or the
 *   decomposition.
 */
export async function exportExplainedModel(opts: ExportExplainedModelOptions): Promise<ExportResult> {
  const heatmaps = opts.heatmaps ?? DEFAULT_EXPORT_HEATMAPS;
  if (!HEATMAP_MODES.includes(heatmaps)) throw new UsageError(`heatmaps: expected one of ${HEATMAP_MODES.join(', ')}, got '${String(heatmaps)}'`);
  if (typeof opts.out !== 'string' || opts.out.trim() === '') throw new UsageError('out: expected the path of the .onnx file to write');
  const outPath = resolve(opts.out);
  const outStat = await stat(outPath).catch(() => null);
  if (outStat?.isDirectory()) throw new InputError(`out '${opts.out}' is a directory; give the path of the .onnx file to write`);
  const network = typeof opts.net === 'string' ? await loadNetwork(opts.net) : opts.net;
  const { classifier: clf, modelPath } = await openNetworkModel(network, {
    model: opts.model,
    threads: opts.threads,
    messages: {
      given: (model) => `--model '${model}'`,
      missing: (sha256) => `pass the model the network was built from with --model (SHA-256 ${sha256})`,
      mismatch: 'export with the model the network was built from (--model), or build a network for this model',
    },
  });
  try {
    await refuseOverwritingInputs(outPath, opts.out, network, modelPath);
    const source = await readFile(modelPath);
    const sourceSha = createHash('sha256').update(source).digest('hex');
    if (sourceSha !== network.manifest.model.sha256) {
      throw new InputError(`model '${modelPath}' changed while it was read: SHA-256 ${sourceSha}, network records ${network.manifest.model.sha256}`);
    }
    const model = readBack(modelPath, source);
    const external = (model.graph?.initializer ?? []).find(isExternal);
    if (external) {
      throw new InputError(`model '${modelPath}': tensor '${external.name}' stores its data in an external file; export writes one self-contained file, so save the model with its weights inline first`);
    }
    const C = network.numClasses, k = network.k, D = network.channels;
    const residual = network.residualTerm.some((v) => v !== 0);
    const f = clf.features;
    const graph = addExplanationOutputs(model, {
      featureTensor: f.tensor,
      featureLayout: f.layout,
      ...(f.layout === 'NTD' ? { grid: { H: f.H, W: f.W } } : {}),
      logitsTensor: clf.logitsOutput,
      C, k, D,
      prototypes: network.prototypes,
      residual: residual ? network.residualTerm : null,
      bias: network.bias,
      heatmaps,
      opset: clf.opset,
    });
    const metadata = metadataFor(network, clf, sourceSha, heatmaps, graph.names, graph.outputs, residual);
    const kept = (model.metadataProps ?? []).filter((p) => !(p.key ?? '').startsWith('protolens.'));
    const bytes = encodeModel({ ...graph.model, metadataProps: [...kept, ...Object.entries(metadata).map(([key, value]) => ({ key, value }))] } as ModelProto);
    const check = await verifyExport(bytes, clf, graph.names, C, k, network.bias, opts.threads);
    await writeFileAtomic(outPath, bytes);
    return {
      path: outPath,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
      sourceSha256: sourceSha,
      sourceModel: modelPath,
      inputName: clf.input.name,
      heatmaps,
      numClasses: C,
      k,
      residual,
      outputs: graph.outputs,
      names: graph.names,
      metadata,
      check,
    };
  } finally {
    await clf.close();
  }
}
