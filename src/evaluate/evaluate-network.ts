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
 * model's normalisation); distinctiveness and comprehensiveness ride the parts pass. When the two
 * preprocessings are the same (e.g. the demo network) one pass serves every metric. Purity (opt-in)
 * adds a pass over the training split. Within a pass, each image is decoded and run through the
 * model once and handed to every metric (`SharedPass`); the prototype sets share that one extraction.
 *
 * Every metric computes a partial over a range of images and merges partials (`ShardableMetric`), so
 * `evaluateShard` can score shard I of N on another machine and a later `evaluateNetwork` with the
 * same options and `out` merges the shards into the report a single run writes.
 *
 * A failed guarantee is a result, not an exception: the report says which check failed and why.
 * Exceptions are for unusable input (InputError) and bugs.
 */
import { createHash } from 'node:crypto';
import { hasSegmentations } from '../data/segmentation.ts';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { checkClassCount, type DatasetFormat, type Split } from '../data/dataset.ts';
import { samePreprocess, type PreprocessConfig } from '../data/preprocess-config.ts';
import { type Failure } from '../data/types.ts';
import { packageVersion } from '../util/version.ts';
import type { Network } from '../network/artifact.ts';
import { InputError } from '../util/errors.ts';
import { checkedInteger, optional } from '../util/options.ts';
import { axiomsMetric, DEFAULT_AXIOM_IMAGES, type AxiomsOptions, type AxiomsReport } from './metrics/axioms.ts';
import { deletionMetric, type DeletionOptions, type DeletionReport } from './metrics/deletion.ts';
import { forwardBatches } from './context/evaluation-data.ts';
import { selectImages, shardRanges, type ImageSelection, type OrdinalRange } from '../data/selection.ts';
import { writeEvaluationOutputs } from './output/folder.ts';
import { claimOutputFolder, shardCounts, shardFolder } from '../io/output-folder.ts';
import type { PartsRows } from './metrics/parts-rows.ts';
import { readShardPartial, shardInventory, writeShardPartial, type EvaluationPart, type PassTiming } from './output/shard-partials.ts';
import { prototypesDigest } from '../network/artifact.ts';
import { stringifyNumbers } from '../io/json-numbers.ts';
import { fidelityMetric, type FidelityOptions, type FidelityReport } from './metrics/fidelity.ts';
import type { ShardableMetric } from './context/metric.ts';
import { NetworkEvaluationModel, type ForwardBatch, type NetworkEvaluationContext } from './context/network-model.ts';
import { protocolPreprocess, type PartsVariant } from './protocols/parts.ts';
import { partsSetsMetric, type PartsSetsOptions, type PartsSetsReport } from './metrics/parts-sets.ts';
import { PROTOTYPE_SET_NAMES, type PrototypeSetName } from './context/prototype-sets.ts';
import { EVALUATION_SCHEMA, EVALUATION_SCHEMA_VERSION, METRIC_NAMES, OPT_IN_METRICS, PARTS_METRICS, type EvaluationReport, type MetricName } from './output/report.ts';
import { purityMetric, type PurityReport, type PurityTops } from './metrics/purity.ts';
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
  parts?: Omit<PartsSetsOptions, 'stability' | 'keepMaps' | 'onRows' | 'sets'>;
  deletion?: Omit<DeletionOptions, 'onImage'>;
  axioms?: AxiomsOptions;
  fidelity?: FidelityOptions;
  onProgress?: (p: EvaluateProgress) => void;
  /**
   * Score only shard `index` of `count` (consecutive, batch-aligned ranges of the selected images,
   * context/shard-ranges.ts) and write its partial results to `<out>/shards-<count>/<index>.safetensors`
   * instead of a report: use `evaluateShard`. A later `evaluateNetwork` with the same options and
   * `out` merges the shards into the report.
   */
  shard?: { index: number; count: number };
  /** When merging shards: compute the shards still missing here instead of failing (exit 3). */
  complete?: boolean;
}

/** What `evaluateShard` returns (the CLI prints it as JSON, schema 'protolens.evaluation-shard-run'). */
export interface EvaluationShardSummary {
  schema: 'protolens.evaluation-shard-run';
  version: 1;
  shard: { index: number; count: number };
  /** Ordinals [start, end) of the selected images this shard scored. */
  range: OrdinalRange;
  images: number;
  failures: Failure[];
  metricsRun: MetricName[];
  file: string;
  seconds: number;
}

/** The metric list: as asked, or every one the dataset allows. Errors name the option. */
export function resolveMetrics(asked: readonly string[] | undefined, hasParts: boolean, dataRoot: string, warnings: string[], hasMasks = false): MetricName[] {
  if (asked !== undefined) {
    if (asked.length === 0) throw new InputError(`metrics: expected at least one of ${METRIC_NAMES.join(', ')}`);
    for (const m of asked) if (!METRIC_NAMES.includes(m as MetricName)) throw new InputError(`metrics: unknown metric '${m}'; expected ${METRIC_NAMES.join(', ')}`);
    const list = METRIC_NAMES.filter((m) => asked.includes(m));
    const parts = list.filter((m) => PARTS_METRICS.includes(m));
    if (!hasParts && parts.length > 0) {
      throw new InputError(`metrics: ${parts.join(', ')} ${parts.length === 1 ? 'needs' : 'need'} a CUB-200-2011 layout dataset with parts (parts/parts.txt, parts/part_locs.txt) and bounding_boxes.txt; ${dataRoot} has no part annotations`);
    }
    if (!hasParts && list.includes('purity')) {
      throw new InputError(`metrics: purity needs a CUB-200-2011 layout dataset with parts and a train split (train_test_split.txt); ${dataRoot} has no part annotations`);
    }
    if (!hasMasks && list.includes('comprehensiveness')) {
      throw new InputError(`metrics: comprehensiveness needs foreground masks in CUB's layout (segmentations/<class>/<image>.png); ${dataRoot} has no segmentations folder`);
    }
    return list;
  }
  const defaults = METRIC_NAMES.filter((m) => !OPT_IN_METRICS.includes(m));
  if (!hasParts) {
    warnings.push(`${PARTS_METRICS.join(', ')} skipped: dataset ${dataRoot} has no part annotations (they need the CUB-200-2011 layout with parts/part_locs.txt)`);
    return defaults.filter((m) => !PARTS_METRICS.includes(m));
  }
  if (!hasMasks) {
    warnings.push(`comprehensiveness skipped: dataset ${dataRoot} has no foreground masks (segmentations/<class>/<image>.png)`);
    return defaults.filter((m) => m !== 'comprehensiveness');
  }
  return defaults;
}

type AnyMetric = ShardableMetric<unknown, unknown, NetworkEvaluationContext>;

interface PassResult {
  /** Partial result of each metric by name. */
  results: Map<string, unknown>;
  images: number;
  seconds: number;
  failures: Failure[];
}

/** Run metrics' partials over one shared pass; the first error aborts the pass for all and is rethrown. */
async function runPass(
  purpose: 'network' | 'protocol' | 'both' | 'training',
  model: NetworkEvaluationModel,
  data: ImageSelection,
  cfg: PreprocessConfig,
  variant: PartsVariant | undefined,
  metrics: AnyMetric[],
  o: { seed: number; batchSize?: number; partNames?: readonly string[]; onProgress?: (p: EvaluateProgress) => void; range: OrdinalRange; masks: boolean },
): Promise<PassResult> {
  const t0 = performance.now();
  const failures: Failure[] = [];
  let images = 0;
  const source = async function* (): AsyncGenerator<ForwardBatch> {
    // The parts protocol and purity read features only: their passes skip the black box's run.
    const blackBoxLogits = purpose === 'network' || purpose === 'both';
    for await (const b of forwardBatches(model, data, cfg, { batchSize: o.batchSize, partsVariant: variant, onFailure: (f) => failures.push(f), range: o.range, masks: o.masks && variant !== undefined, blackBoxLogits })) {
      images += b.labels.length;
      o.onProgress?.({ task: purpose, done: images + failures.length, total: o.range[1] - o.range[0] });
      yield b;
    }
  };
  o.onProgress?.({ task: purpose, done: 0, total: o.range[1] - o.range[0] });
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
        return await m.partial(ctx);
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

/** Everything an evaluation needs before its passes: the data, the metrics, the open model. */
interface Prepared {
  opts: EvaluateOptions;
  t0: number;
  seed: number;
  sets: PrototypeSetName[];
  warnings: string[];
  data: ImageSelection;
  hasParts: boolean;
  metricsRun: MetricName[];
  wantsParts: boolean;
  variant: PartsVariant;
  metrics: { fidelity: AnyMetric | null; axioms: AnyMetric | null; parts: AnyMetric | null; deletion: AnyMetric | null; purity: AnyMetric | null };
  /** The training split purity scans, and its preprocessing (whole images stretched). */
  training: { data: ImageSelection; cfg: PreprocessConfig } | null;
  /** The merged parts rows (set by the parts metric's merge), for the maps export. */
  rows: { value: PartsRows | null };
  /** Purity's merged top lists (set by its merge), for the purity export. */
  tops: { value: PurityTops | null };
  model: NetworkEvaluationModel;
  classNamesMatch: boolean;
  networkCfg: PreprocessConfig;
  protocolCfg: PreprocessConfig | null;
  /** One pass serves every metric. */
  shared: boolean;
  /** Images per model call, as the passes use it (ranges of shards align to it). */
  batch: number;
  /** The first images the axioms' detailed checks use (the first shard holds them). */
  detailedImages: number;
}

/** Open data and model and make the metrics; the caller closes `model`. */
async function prepare(opts: EvaluateOptions, keepMaps: boolean): Promise<Prepared> {
  const t0 = performance.now();
  const seed = opts.seed ?? 0;
  checkedInteger('seed', seed, 0, 0xffffffff);
  positiveInt(opts.batchSize, 'batchSize');
  positiveInt(opts.maxImages, 'maxImages');
  const sets = opts.sets ?? [...PROTOTYPE_SET_NAMES];
  if (!sets.includes('refined')) throw new InputError(`sets: 'refined' (the network's prototypes) must be among the prototype sets, got ${sets.join(', ')}`);
  const warnings: string[] = [];

  const data = await selectImages(opts.data, { format: opts.format, split: opts.split, classList: opts.classList, maxImages: opts.maxImages });
  const ds = data.dataset;
  const hasParts = ds.format === 'cub' && ds.partNames !== undefined;
  const hasMasks = hasParts && (await hasSegmentations(ds.root));
  const metricsRun = resolveMetrics(opts.metrics, hasParts, opts.data, warnings, hasMasks);
  // Fail fast on bad metric options, before the model loads.
  const fidelity = metricsRun.includes('fidelity') ? fidelityMetric(opts.fidelity) : null;
  const axioms = metricsRun.includes('axioms') ? axiomsMetric(opts.axioms) : null;
  const wantsParts = metricsRun.some((m) => PARTS_METRICS.includes(m));
  const variant: PartsVariant = opts.parts?.variant ?? 'strict';
  if (variant !== 'strict' && variant !== 'uncropped') throw new InputError(`parts variant: expected 'strict' or 'uncropped', got '${String(variant)}'`);
  const rows: Prepared['rows'] = { value: null };
  const tops: Prepared['tops'] = { value: null };
  const parts = wantsParts
    ? partsSetsMetric({
        ...opts.parts,
        variant,
        sets,
        numParts: opts.parts?.numParts ?? ds.partNames?.length,
        stability: metricsRun.includes('stability'),
        distinctiveness: metricsRun.includes('distinctiveness'),
        comprehensiveness: metricsRun.includes('comprehensiveness'),
        keepMaps,
        onRows: (r) => (rows.value = r),
      })
    : null;
  const deletion = metricsRun.includes('deletion')
    ? deletionMetric({ ...opts.deletion, onImage: (done, total) => opts.onProgress?.({ task: 'deletion', done, total }) })
    : null;

  const purity = metricsRun.includes('purity') ? purityMetric({ sets, onTops: (t) => (tops.value = t) }) : null;
  const trainData = purity ? await selectImages(opts.data, { format: opts.format, split: 'train', classList: opts.classList }) : null;
  const model = await NetworkEvaluationModel.open(opts.net, { model: opts.model, threads: opts.threads, sets: wantsParts || purity ? sets : ['refined'], randomSplitSeed: seed });
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
    const shared = protocolCfg !== null && (fidelity !== null || deletion !== null || axioms !== null) && samePreprocess(networkCfg, protocolCfg);
    return {
      opts,
      t0,
      seed,
      sets,
      warnings,
      data,
      hasParts,
      metricsRun,
      wantsParts,
      variant,
      metrics: { fidelity: fidelity as AnyMetric | null, axioms: axioms as AnyMetric | null, parts: parts as AnyMetric | null, deletion: deletion as AnyMetric | null, purity: purity as AnyMetric | null },
      training: trainData ? { data: trainData, cfg: protocolPreprocess(networkCfg, 'uncropped') } : null,
      rows,
      tops,
      model,
      classNamesMatch,
      networkCfg,
      protocolCfg,
      shared,
      batch: model.classifier.maxBatch ?? opts.batchSize ?? DEFAULT_EVALUATION_BATCH,
      detailedImages: axioms ? (opts.axioms?.images ?? DEFAULT_AXIOM_IMAGES) : 0,
    };
  } catch (e) {
    await model.close();
    throw e;
  }
}

/**
 * Run the passes of shard `shard` (null: every image): the evaluation images' range, and for purity the
 * training images' range of the same shard.
 */
async function runRange(p: Prepared, shard: { index: number; count: number } | null): Promise<EvaluationPart> {
  const range: OrdinalRange = shard ? rangesOf(p, shard.count)[shard.index] : [0, p.data.count];
  const { fidelity, deletion, axioms, parts } = p.metrics;
  const networkMetrics = [fidelity, deletion, axioms].filter((m): m is AnyMetric => m !== null);
  const common = { seed: p.seed, batchSize: p.opts.batchSize, partNames: p.data.dataset.partNames, onProgress: p.opts.onProgress, range, masks: p.metricsRun.includes('comprehensiveness') };
  const passes: { purpose: PassTiming['purpose']; result: PassResult }[] = [];
  if (p.shared) {
    passes.push({ purpose: 'both', result: await runPass('both', p.model, p.data, p.networkCfg, p.variant, [...networkMetrics, parts!], common) });
  } else {
    if (networkMetrics.length > 0) passes.push({ purpose: 'network', result: await runPass('network', p.model, p.data, p.networkCfg, undefined, networkMetrics, common) });
    if (parts && p.protocolCfg) passes.push({ purpose: 'protocol', result: await runPass('protocol', p.model, p.data, p.protocolCfg, p.variant, [parts], common) });
  }
  if (p.metrics.purity && p.training) {
    const t = p.training;
    const trainRange: OrdinalRange = shard ? shardRanges(t.data.count, shard.count, p.batch)[shard.index] : [0, t.data.count];
    passes.push({ purpose: 'training', result: await runPass('training', p.model, t.data, t.cfg, undefined, [p.metrics.purity], { ...common, range: trainRange, masks: false }) });
  }
  const partials = new Map<string, unknown>();
  for (const q of passes) for (const [k, v] of q.result.results) partials.set(k, v);
  const failures = new Map<number, Failure>();
  for (const q of passes) for (const f of q.result.failures) failures.set(f.index, f);
  return {
    range,
    passes: passes.map((q) => ({ purpose: q.purpose, images: q.result.images, seconds: q.result.seconds })),
    failures: [...failures.values()].sort((a, b) => a.index - b.index),
    partials,
  };
}

/**
 * Hash of every setting that changes a number of the report: protolens version, model and
 * prototypes, dataset and image selection, metrics and their options, seed, batch size. Shards
 * merge only with shards of the same key.
 */
async function settingsKey(p: Prepared): Promise<string> {
  const { opts, data } = p;
  const net = p.model.network;
  const deletion = opts.deletion ?? null;
  const settings = {
    protolens: packageVersion(),
    model: p.model.classifier.sha256,
    prototypes: await prototypesDigest(net),
    data: { root: resolve(data.dataset.root), format: data.dataset.format, split: data.split, size: data.dataset.size, count: data.count, classes: data.dataset.classNames },
    metrics: p.metricsRun,
    seed: p.seed,
    sets: p.sets,
    parts: opts.parts ?? null,
    deletion,
    axioms: opts.axioms ?? null,
    fidelity: opts.fidelity ?? null,
    batch: p.batch,
  };
  return createHash('sha256').update(stringifyNumbers(settings)).digest('hex');
}

const rangesOf = (p: Prepared, count: number): OrdinalRange[] => shardRanges(p.data.count, count, p.batch, p.detailedImages);

/** The report from the parts of consecutive ranges covering every selected image, in order. */
async function mergeReport(p: Prepared, parts: readonly EvaluationPart[], merged: { shards: number } | null): Promise<EvaluationReport> {
  const { model, data, opts } = p;
  const ds = data.dataset;
  const net = model.network;
  const ctx: NetworkEvaluationContext = {
    model,
    seed: p.seed,
    batches: () => {
      throw new Error('merging evaluation parts runs no pass');
    },
    images: { preprocess: p.networkCfg, purpose: p.shared ? 'both' : 'network' },
    imageCount: data.count,
    ...(ds.partNames ? { partNames: ds.partNames } : {}),
  };
  const metrics: EvaluationReport['metrics'] = {};
  const mergeOf = (m: AnyMetric): unknown => {
    const partials = parts.map((q, i) => {
      if (!q.partials.has(m.name)) throw new InputError(`evaluation part ${i} (images ${q.range[0]}..${q.range[1] - 1}) has no results of metric '${m.name}'`);
      return q.partials.get(m.name);
    });
    return m.merge(partials, ctx);
  };
  if (p.metrics.fidelity) metrics.fidelity = mergeOf(p.metrics.fidelity) as FidelityReport;
  if (p.metrics.parts) metrics.parts = mergeOf(p.metrics.parts) as PartsSetsReport;
  if (p.metrics.deletion) metrics.deletion = mergeOf(p.metrics.deletion) as DeletionReport;
  if (p.metrics.axioms) metrics.axioms = mergeOf(p.metrics.axioms) as AxiomsReport;
  if (p.metrics.purity) metrics.purity = mergeOf(p.metrics.purity) as PurityReport;
  const checkFailures: string[] = [];
  if (metrics.fidelity && !metrics.fidelity.pass) checkFailures.push(`fidelity: ${metrics.fidelity.failure}`);
  if (metrics.axioms && !metrics.axioms.pass) checkFailures.push(`axioms: ${metrics.axioms.failure}`);

  const passTimes = new Map<PassTiming['purpose'], { images: number; seconds: number }>();
  for (const q of parts) {
    for (const t of q.passes) {
      const a = passTimes.get(t.purpose) ?? { images: 0, seconds: 0 };
      a.images += t.images;
      a.seconds += t.seconds;
      passTimes.set(t.purpose, a);
    }
  }
  const failures = parts.flatMap((q) => q.failures).sort((a, b) => a.index - b.index);
  const warnings = [...p.warnings];
  if (failures.length > 0) warnings.push(`${failures.length} image(s) could not be decoded and were left out (listed in dataset.failures)`);
  const evaluated = Math.max(0, ...[...passTimes].filter(([purpose]) => purpose !== 'training').map(([, t]) => t.images));

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
      failures,
      classNamesMatch: p.classNamesMatch,
      parts: p.hasParts,
    },
    preprocess: { network: p.networkCfg, protocol: p.protocolCfg, sharedPass: p.shared },
    seed: p.seed,
    metricsRun: p.metricsRun,
    prototypeSets: p.wantsParts || p.metrics.purity ? [...p.sets] : ['refined'],
    metrics,
    checks: { passed: checkFailures.length === 0, failures: checkFailures },
    warnings,
    timing: {
      seconds: 0,
      passes: [...passTimes].map(([purpose, t]) => ({ purpose, images: t.images, seconds: t.seconds, imagesPerSecond: t.seconds > 0 ? t.images / t.seconds : 0 })),
      ...(merged ? { mergedShards: merged.shards } : {}),
    },
    outputs: null,
  };
  report.timing.seconds = (performance.now() - p.t0) / 1000;
  if (opts.out !== undefined) {
    const purity = p.tops.value ? { tops: p.tops.value, input: [model.input.height, model.input.width] as const } : null;
    report.outputs = await writeEvaluationOutputs(report, opts.out, p.rows.value, { classNames: net.manifest.classNames, partNames: ds.partNames ?? null, mapSize: model.mapSize, k: net.k }, purity);
  }
  return report;
}

/**
 * Shards already run into `out` for these settings: the shard count with results of this key, or
 * null when none (other settings' shard files are left alone and mentioned in the warnings).
 */
async function shardsToMerge(p: Prepared, out: string, key: string): Promise<{ count: number; missing: { index: number; reason: string }[] } | null> {
  let best: { count: number; done: number; missing: { index: number; reason: string }[] } | null = null;
  for (const count of await shardCounts(out)) {
    const inv = await shardInventory(out, count, key);
    if (inv.done.length === 0) {
      p.warnings.push(`${shardFolder(out, count)} holds no shard results of these settings; left alone`);
      continue;
    }
    if (!best || inv.done.length > best.done) best = { count, done: inv.done.length, missing: inv.missing };
  }
  return best;
}

/**
 * Evaluate a network on a dataset. See the module doc; options and defaults in docs/evaluation.md.
 * With `out` holding shard results of the same settings (`evaluateShard`), merges them instead of
 * running the passes: the report is the one a single run computes (only timings differ). Shards
 * still missing are an InputError naming them, or are computed here with `complete`.
 */
export async function evaluateNetwork(opts: EvaluateOptions): Promise<EvaluationReport> {
  if (opts.shard) throw new InputError('shard: evaluateNetwork writes the whole report; use evaluateShard for one shard');
  // Claim the output folder before the long run: a folder protolens did not write is refused now, not after it.
  if (opts.out !== undefined) await claimOutputFolder(opts.out, 'evaluation');
  const p = await prepare(opts, opts.out !== undefined);
  try {
    const key = opts.out !== undefined ? await settingsKey(p) : '';
    const found = opts.out !== undefined ? await shardsToMerge(p, opts.out, key) : null;
    if (!found) return await mergeReport(p, [await runRange(p, null)], null);
    const ranges = rangesOf(p, found.count);
    if (found.missing.length > 0 && !opts.complete) {
      const list = found.missing.map((m) => `shard ${m.index}/${found.count} (images ${ranges[m.index][0]}..${ranges[m.index][1] - 1}): ${m.reason}`);
      throw new InputError(`${opts.out}: ${found.missing.length} of ${found.count} evaluation shards have no results of these settings:\n  ${list.join('\n  ')}\nrun them (evaluate --shard I/${found.count} with the same options), or pass --complete to compute them here`);
    }
    for (const m of found.missing) await writeShardPartial(opts.out!, m.index, found.count, key, await runRange(p, { index: m.index, count: found.count }), hostname());
    const parts: EvaluationPart[] = [];
    for (let i = 0; i < found.count; i++) parts.push(await readShardPartial(opts.out!, i, found.count, key, ranges[i]));
    return await mergeReport(p, parts, { shards: found.count });
  } finally {
    await p.model.close();
  }
}

/**
 * Score shard `opts.shard` of the selected images and write its partial results to
 * `<out>/shards-<N>/<I>.safetensors` (no report). Shards of one evaluation run anywhere that sees the
 * same network, model, dataset and `out`; the same options give the same ranges.
 */
export async function evaluateShard(opts: EvaluateOptions & { shard: { index: number; count: number }; out: string }): Promise<EvaluationShardSummary> {
  const { index, count } = opts.shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) throw new InputError(`shard: expected 0 <= index < count, got ${index}/${count}`);
  if (opts.out === undefined) throw new InputError('shard: an evaluation shard needs out (the folder the shards and the final report share)');
  // Other shards may be writing into the same folder: claim it without removing anything.
  await claimOutputFolder(opts.out, 'evaluation', '--out', { keepPrevious: true });
  const p = await prepare(opts, true);
  try {
    const key = await settingsKey(p);
    const range = rangesOf(p, count)[index];
    const part = await runRange(p, { index, count });
    const file = await writeShardPartial(opts.out, index, count, key, part, hostname());
    return {
      schema: 'protolens.evaluation-shard-run',
      version: 1,
      shard: { index, count },
      range,
      images: Math.max(0, ...part.passes.map((q) => q.images)),
      failures: part.failures,
      metricsRun: p.metricsRun,
      file,
      seconds: (performance.now() - p.t0) / 1000,
    };
  } finally {
    await p.model.close();
  }
}
