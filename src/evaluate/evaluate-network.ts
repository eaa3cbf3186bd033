/**
 * `evaluateNetwork`: a prototype network and its model on a test set, every metric in as few passes
 * as possible.
 *
 *   const report = await evaluateNetwork({ net: 'net/', data: 'CUB_200_2011/', out: 'eval/' });
 *   report.metrics.fidelity.agreement, report.metrics.parts.sets.refined.consistency.score, ...
 *   report.checks.passed  // false when fidelity or an axiom failed (the command exits with 4)
 *
 * Passes: fidelity, deletion/insertion and the axioms read images preprocessed as the network
 * records; consistency and stability read them by the parts protocol (crop to the box, stretch, the
 * model's normalisation). When the two preprocessings are the same (e.g. the demo network) one pass
 * serves every metric. Within a pass, each image is decoded and run through the model once and
 * handed to every metric (`SharedPass`); the prototype sets share that one extraction too.
 *
 * A failed guarantee is a result, not an exception: the report says which check failed and why.
 * Exceptions are for unusable input (InputError) and bugs.
 */
import { resolve } from 'node:path';
import { checkClassCount, type DatasetFormat, type Split } from '../data/dataset.ts';
import { samePreprocess, type PreprocessConfig } from '../data/preprocess-config.ts';
import { type Failure } from '../data/types.ts';
import { packageVersion } from '../util/version.ts';
import type { Network } from '../network/artifact.ts';
import { InputError } from '../util/errors.ts';
import { checkedInteger, optional } from '../util/options.ts';
import { axiomsMetric, type AxiomsOptions, type AxiomsReport } from './metrics/axioms.ts';
import { deletionMetric, type DeletionOptions, type DeletionReport } from './metrics/deletion.ts';
import { forwardBatches, openEvaluationData, type EvaluationData } from './context/evaluation-data.ts';
import { writeEvaluationOutputs } from './output/folder.ts';
import { claimOutputFolder } from '../io/output-folder.ts';
import { MapsCollector } from './output/maps-export.ts';
import { fidelityMetric, type FidelityOptions, type FidelityReport } from './metrics/fidelity.ts';
import type { Metric } from './context/metric.ts';
import { NetworkEvaluationModel, type ForwardBatch, type NetworkEvaluationContext } from './context/network-model.ts';
import { protocolPreprocess, type PartsVariant } from './protocols/parts.ts';
import { partsSetsMetric, type PartsSetsOptions, type PartsSetsReport } from './metrics/parts-sets.ts';
import { PROTOTYPE_SET_NAMES, type PrototypeSetName } from './context/prototype-sets.ts';
import { EVALUATION_SCHEMA, EVALUATION_SCHEMA_VERSION, METRIC_NAMES, type EvaluationReport, type MetricName } from './output/report.ts';
import { SharedPass } from './context/shared-pass.ts';

/** Images per model call in the evaluation passes, unless the model fixes its batch size. */
export const DEFAULT_EVALUATION_BATCH = 32;

export interface EvaluateProgress {
  /** 'network', 'protocol' or 'both' (a pass over the images), or 'deletion' (scored images). */
  task: string;
  done: number;
  total: number;
}

export interface EvaluateOptions {
  /** Network folder (or a loaded network). */
  net: string | Network;
  /** Dataset root (CUB-200-2011 layout for consistency and stability; ImageFolder for the rest). */
  data: string;
  format?: DatasetFormat | 'auto';
  /** Default: 'test' for CUB, 'all' for ImageFolder. */
  split?: Split;
  /** ImageFolder classes in the model's output order. */
  classList?: string[] | string;
  /** Metrics to run (default: all five, less consistency and stability when the dataset has no parts). */
  metrics?: MetricName[];
  /** Seed of every random choice (default 0). */
  seed?: number;
  /** Evaluate at most this many images, evenly spaced over the split (default: all). */
  maxImages?: number;
  /** Images per model call in the passes (default 32, or the model's fixed batch size). */
  batchSize?: number;
  /** onnxruntime intra-op threads. */
  threads?: number;
  /** Model file instead of the manifest's (same SHA-256 required). */
  model?: string;
  /** Write evaluation.json, results.md, plots and the per-image maps here. */
  out?: string;
  /** Prototype sets compared by consistency and stability (default refined, initial, random). */
  sets?: PrototypeSetName[];
  /** Parts protocol options (variant, halfSize, partThreshold, noise, arithmetic). */
  parts?: Omit<PartsSetsOptions, 'stability' | 'onImage' | 'sets'>;
  deletion?: Omit<DeletionOptions, 'onImage'>;
  axioms?: AxiomsOptions;
  fidelity?: FidelityOptions;
  onProgress?: (p: EvaluateProgress) => void;
}

/** The metric list: as asked, or every one the dataset allows. Errors name the option. */
export function resolveMetrics(asked: readonly string[] | undefined, hasParts: boolean, dataRoot: string, warnings: string[]): MetricName[] {
  if (asked !== undefined) {
    if (asked.length === 0) throw new InputError(`metrics: expected at least one of ${METRIC_NAMES.join(', ')}`);
    for (const m of asked) if (!METRIC_NAMES.includes(m as MetricName)) throw new InputError(`metrics: unknown metric '${m}'; expected ${METRIC_NAMES.join(', ')}`);
    const list = METRIC_NAMES.filter((m) => asked.includes(m));
    if (!hasParts && (list.includes('consistency') || list.includes('stability'))) {
      throw new InputError(`metrics: consistency and stability need a CUB-200-2011 layout dataset with parts (parts/parts.txt, parts/part_locs.txt) and bounding_boxes.txt; ${dataRoot} has no part annotations`);
    }
    return list;
  }
  if (!hasParts) {
    warnings.push(`consistency and stability skipped: dataset ${dataRoot} has no part annotations (they need the CUB-200-2011 layout with parts/part_locs.txt)`);
    return METRIC_NAMES.filter((m) => m !== 'consistency' && m !== 'stability');
  }
  return [...METRIC_NAMES];
}

type AnyMetric = Metric<unknown, NetworkEvaluationContext>;

interface PassResult {
  results: Map<string, unknown>;
  images: number;
  seconds: number;
  failures: Failure[];
}

/** Run metrics over one shared pass; the first error aborts the pass for all and is rethrown. */
async function runPass(
  purpose: 'network' | 'protocol' | 'both',
  model: NetworkEvaluationModel,
  data: EvaluationData,
  cfg: PreprocessConfig,
  variant: PartsVariant | undefined,
  metrics: AnyMetric[],
  o: { seed: number; batchSize?: number; partNames?: readonly string[]; onProgress?: (p: EvaluateProgress) => void },
): Promise<PassResult> {
  const t0 = performance.now();
  const failures: Failure[] = [];
  let images = 0;
  const source = async function* (): AsyncGenerator<ForwardBatch> {
    for await (const b of forwardBatches(model, data, cfg, { batchSize: o.batchSize, partsVariant: variant, onFailure: (f) => failures.push(f) })) {
      images += b.labels.length;
      o.onProgress?.({ task: purpose, done: images + failures.length, total: data.count });
      yield b;
    }
  };
  o.onProgress?.({ task: purpose, done: 0, total: data.count });
  const pass = new SharedPass<ForwardBatch>(source);
  const leases = metrics.map(() => pass.lease());
  let firstError: unknown;
  let failed = false;
  const settled = await Promise.allSettled(
    metrics.map(async (m, i) => {
      const ctx: NetworkEvaluationContext = {
        model,
        seed: o.seed,
        batches: () => leases[i].batches(),
        images: { preprocess: cfg, purpose },
        imageCount: data.count,
        ...(o.partNames ? { partNames: o.partNames } : {}),
      };
      try {
        return await m.run(ctx);
      } catch (e) {
        if (!failed) {
          failed = true;
          firstError = e;
        }
        pass.abort(e);
        throw e;
      } finally {
        leases[i].close();
      }
    }),
  );
  if (failed) throw firstError;
  const results = new Map<string, unknown>();
  settled.forEach((s, i) => results.set(metrics[i].name, (s as PromiseFulfilledResult<unknown>).value));
  return { results, images, seconds: (performance.now() - t0) / 1000, failures };
}

const positiveInt = (v: number | undefined, name: string): number | undefined => optional(v, undefined, (x) => checkedInteger(name, x, 1));

/** Evaluate a network on a dataset. See the module doc; options and defaults in docs/evaluation.md. */
export async function evaluateNetwork(opts: EvaluateOptions): Promise<EvaluationReport> {
  const t0 = performance.now();
  const seed = opts.seed ?? 0;
  checkedInteger('seed', seed, 0, 0xffffffff);
  positiveInt(opts.batchSize, 'batchSize');
  positiveInt(opts.maxImages, 'maxImages');
  const sets = opts.sets ?? [...PROTOTYPE_SET_NAMES];
  if (!sets.includes('refined')) throw new InputError(`sets: 'refined' (the network's prototypes) must be among the prototype sets, got ${sets.join(', ')}`);
  const warnings: string[] = [];

  const data = await openEvaluationData(opts.data, { format: opts.format, split: opts.split, classList: opts.classList, maxImages: opts.maxImages });
  const ds = data.dataset;
  const hasParts = ds.format === 'cub' && ds.partNames !== undefined;
  const metricsRun = resolveMetrics(opts.metrics, hasParts, opts.data, warnings);
  // Fail fast on bad metric options, before the model loads.
  const fidelity = metricsRun.includes('fidelity') ? fidelityMetric(opts.fidelity) : null;
  const axioms = metricsRun.includes('axioms') ? axiomsMetric(opts.axioms) : null;
  const wantsParts = metricsRun.includes('consistency') || metricsRun.includes('stability');
  const variant: PartsVariant = opts.parts?.variant ?? 'strict';
  if (variant !== 'strict' && variant !== 'uncropped') throw new InputError(`parts variant: expected 'strict' or 'uncropped', got '${String(variant)}'`);
  // Claim the output folder before the long run: a folder protolens did not write is refused now, not after it.
  if (opts.out !== undefined) await claimOutputFolder(opts.out, 'evaluation');
  const collector = opts.out !== undefined && wantsParts ? new MapsCollector() : null;
  const parts = wantsParts
    ? partsSetsMetric({
        ...opts.parts,
        variant,
        sets,
        numParts: opts.parts?.numParts ?? ds.partNames?.length,
        stability: metricsRun.includes('stability'),
        ...(collector ? { onImage: (r) => collector.add(r) } : {}),
      })
    : null;
  const deletion = metricsRun.includes('deletion')
    ? deletionMetric({ ...opts.deletion, onImage: (done, total) => opts.onProgress?.({ task: 'deletion', done, total }) })
    : null;

  const model = await NetworkEvaluationModel.open(opts.net, { model: opts.model, threads: opts.threads, sets: wantsParts ? sets : ['refined'], randomSplitSeed: seed });
  try {
    const net = model.network;
    checkClassCount(ds, net.numClasses, `network '${net.dir}'`);
    const classNamesMatch = ds.classNames.every((n, i) => n === net.manifest.classNames[i]);
    if (!classNamesMatch) {
      const i = ds.classNames.findIndex((n, j) => n !== net.manifest.classNames[j]);
      warnings.push(`the dataset's class names differ from the network's (first at index ${i}: '${ds.classNames[i]}' vs '${net.manifest.classNames[i]}'); labels are matched by position`);
    }
    const networkCfg = model.preprocess;
    const protocolCfg = wantsParts ? protocolPreprocess(networkCfg, variant) : null;
    const networkMetrics = [fidelity, deletion, axioms].filter((m): m is NonNullable<typeof m> => m !== null) as AnyMetric[];
    const shared = protocolCfg !== null && networkMetrics.length > 0 && samePreprocess(networkCfg, protocolCfg);
    const common = { seed, batchSize: opts.batchSize, partNames: ds.partNames, onProgress: opts.onProgress };
    const passes: { purpose: 'network' | 'protocol' | 'both'; result: PassResult }[] = [];
    if (shared) {
      passes.push({ purpose: 'both', result: await runPass('both', model, data, networkCfg, variant, [...networkMetrics, parts as AnyMetric], common) });
    } else {
      if (networkMetrics.length > 0) passes.push({ purpose: 'network', result: await runPass('network', model, data, networkCfg, undefined, networkMetrics, common) });
      if (parts && protocolCfg) passes.push({ purpose: 'protocol', result: await runPass('protocol', model, data, protocolCfg, variant, [parts as AnyMetric], common) });
    }
    const results = new Map<string, unknown>();
    for (const p of passes) for (const [k, v] of p.result.results) results.set(k, v);
    const failures = new Map<number, Failure>();
    for (const p of passes) for (const f of p.result.failures) failures.set(f.index, f);
    const evaluated = Math.max(...passes.map((p) => p.result.images));
    if (failures.size > 0) warnings.push(`${failures.size} image(s) could not be decoded and were left out (listed in dataset.failures)`);

    const metrics: EvaluationReport['metrics'] = {};
    if (results.has('fidelity')) metrics.fidelity = results.get('fidelity') as FidelityReport;
    if (results.has('parts')) metrics.parts = results.get('parts') as PartsSetsReport;
    if (results.has('deletion')) metrics.deletion = results.get('deletion') as DeletionReport;
    if (results.has('axioms')) metrics.axioms = results.get('axioms') as AxiomsReport;
    const checkFailures: string[] = [];
    if (metrics.fidelity && !metrics.fidelity.pass) checkFailures.push(`fidelity: ${metrics.fidelity.failure}`);
    if (metrics.axioms && !metrics.axioms.pass) checkFailures.push(`axioms: ${metrics.axioms.failure}`);

    const m = net.manifest;
    const allocator = (m.options as { allocator?: unknown } | undefined)?.allocator;
    const report: EvaluationReport = {
      schema: EVALUATION_SCHEMA,
      version: EVALUATION_SCHEMA_VERSION,
      generator: { name: 'protolens', version: packageVersion() },
      network: {
        dir: resolve(net.dir),
        classes: net.numClasses,
        k: net.k,
        channels: net.channels,
        featureMap: model.mapSize,
        allocator: typeof allocator === 'string' ? allocator : null,
        seed: typeof m.seed === 'number' ? m.seed : null,
        residualTerm: model.hasResidual,
      },
      model: { path: model.modelPath, sha256: model.classifier.sha256, blackBox: model.blackBoxSession, headDifference: model.headDifference },
      dataset: {
        root: resolve(ds.root),
        format: ds.format,
        split: data.split,
        size: ds.size,
        selected: data.count,
        evaluated,
        failures: [...failures.values()].sort((a, b) => a.index - b.index),
        classNamesMatch,
        parts: hasParts,
      },
      preprocess: { network: networkCfg, protocol: protocolCfg, sharedPass: shared },
      seed,
      metricsRun,
      prototypeSets: wantsParts ? [...sets] : ['refined'],
      metrics,
      checks: { passed: checkFailures.length === 0, failures: checkFailures },
      warnings,
      timing: {
        seconds: 0,
        passes: passes.map((p) => ({ purpose: p.purpose, images: p.result.images, seconds: p.result.seconds, imagesPerSecond: p.result.seconds > 0 ? p.result.images / p.result.seconds : 0 })),
      },
      outputs: null,
    };
    report.timing.seconds = (performance.now() - t0) / 1000;
    if (opts.out !== undefined) {
      report.outputs = await writeEvaluationOutputs(report, opts.out, collector, { classNames: net.manifest.classNames, partNames: ds.partNames ?? null, mapSize: model.mapSize, k: net.k });
    }
    return report;
  } finally {
    await model.close();
  }
}
