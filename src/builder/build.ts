/**
 * `buildNetwork`: from an ONNX classifier and a training set to the network artifact; `buildShard`:
 * one shard of that work, for builds spread over a cluster (docs/scale.md).
 *
 * 1. Load the classifier (head check included), open the dataset, check its class count against
 *    the head, fix the preprocessing (size and layout from the model).
 * 2. For the classes to compute (all of them, or a shard's), skip those whose result is already in
 *    the results cache (builder/class-results.ts); extract the features of the others into the
 *    feature cache (resumable; cached classes skipped).
 * 3. Decompose them on worker threads, reading each class's features from the cache only when a
 *    worker is free; after each class, score its training images against its refined prototypes,
 *    render its exemplar pictures, and write the class's result file (atomically).
 * 4. (Not for a shard.) Assemble the network from the result files, class by class: exemplar
 *    pictures, exemplars/index.json, prototypes.safetensors, manifest.json (last). A single-machine
 *    build and a sharded one take the same path, so their networks are byte-identical.
 *
 * Memory is bounded by a few classes' features (the one being extracted, the ones in the workers,
 * the one being scored for exemplars) plus the output tensors (C x k x D), whatever the number of
 * images.
 */
import { join } from 'node:path';
import { checkClassCount, type Dataset, type DatasetFormat, type Split } from '../data/dataset.ts';
import { isCubLayout } from '../data/cub.ts';
import { makePreprocessConfig, type PreprocessConfig } from '../data/preprocess-config.ts';
import { openDataset } from '../data/open.ts';
import { extractClasses, type ClassExtraction, type ExtractClassesReport } from '../features/extract-classes.ts';
import { checkPreprocessFits, throwIfAborted } from '../features/extract.ts';
import { capItems, fingerprintItems } from '../features/selection.ts';
import type { ImageItem } from '../data/types.ts';
import { FeatureStore, type ItemFailure } from '../features/store.ts';
import { loadClassifier, type Classifier, type HeadCheck } from '../model/classifier.ts';
import { classLabel } from '../prototypes/decompose.ts';
import { ExemplarScorer, KEPT_PICTURE_QUALITY, renderClassExemplars, writeExemplarFiles } from './exemplars.ts';
import { EXEMPLAR_INDEX_FILE, exemplarIndexHeader, writeExemplarIndex, type ClassExemplars } from '../network/exemplar-index.ts';
import { MANIFEST_FILE, NETWORK_SCHEMA, NETWORK_SCHEMA_VERSION, TENSORS_FILE, type ClassSummary, type NetworkManifest, type NetworkTensors } from '../network/artifact.ts';
import { decomposeClassesStream, type ClassLoader } from '../prototypes/parallel.ts';
import { prefetch } from '../util/prefetch.ts';
import { InputError } from '../util/errors.ts';
import { diagnosticsJson, pathFromNetwork } from '../network/manifest-fields.ts';
import { packageVersion } from '../util/version.ts';
import { resolveBuildOptions, type BuildOptions, type ResolvedBuildOptions } from './options.ts';
import { OutputFolder } from './output.ts';
import { isSameOrInside } from '../io/paths.ts';
import { checkUsableClass } from './usable.ts';
import { ResultStore } from './class-results.ts';
import { planPath, readShardPlans, readShardRecords, ShardRecorder, writeShardPlan, type ShardSpec } from './shards.ts';

/** A progress report: images during extraction, classes during decomposition (exemplars included). */
export interface BuildProgress {
  phase: 'extract' | 'decompose';
  done: number;
  total: number;
  unit: 'images' | 'classes';
  /** The class being worked on. */
  classIndex: number;
  className: string;
}

export interface BuildHooks {
  onProgress?(p: BuildProgress): void;
  /** After each class's features are settled (extracted and cached, or found in the cache). Awaited; throwing stops the build. */
  onClassExtracted?(info: ClassExtraction & { className: string }): void | Promise<void>;
  /** Each warning as it arises (also collected in the result). */
  onWarning?(message: string): void;
}

/** What the compute step did: extraction, decomposition and exemplars of the classes without a cached result. */
export interface ComputeReport {
  extraction: Omit<ExtractClassesReport, 'classes'>;
  /**
   * Wall seconds of the decomposition phase (exemplars are rendered in this thread while the workers go
   * on decomposing, so it includes what of their rendering the decomposition did not hide), worker
   * threads, classes decomposed here and classes whose result was cached.
   */
  decomposition: { seconds: number; threads: number; classesComputed: number; classesFromCache: number };
  /** Exemplar pictures rendered here and the seconds this thread spent rendering them, overlapping the decomposition (null when the build draws none). */
  exemplars: { pictures: number; seconds: number } | null;
}

export interface BuildResult extends ComputeReport {
  /** The network folder. */
  dir: string;
  manifest: NetworkManifest;
  /** The feature cache folder used (root / key hash). */
  cacheDir: string;
  /** The results folder the network was assembled from. */
  resultsDir: string;
  /** True when every class came from results computed earlier (by shards or an earlier build): nothing extracted or decomposed. */
  assembled: boolean;
  /** The load-time logit check of the classifier. */
  headCheck: HeadCheck;
  /** Training images whose features were used, over all classes. */
  images: number;
  /** Images skipped because they could not be decoded (also in the manifest). */
  failures: ItemFailure[];
  warnings: string[];
  /** Peak resident set size of the process so far, bytes (process.resourceUsage().maxRSS). */
  peakRssBytes: number;
  /** CPU seconds (user + system, every thread) the process has used so far. */
  cpuSeconds: number;
  seconds: number;
}

/** What one shard did. */
export interface ShardResult extends ComputeReport {
  shard: ShardSpec;
  /** The classes this shard owns. */
  classes: number[];
  /** The plan file. */
  plan: string;
  cacheDir: string;
  resultsDir: string;
  headCheck: HeadCheck;
  /** Images of the shard's classes whose features were used. */
  images: number;
  failures: ItemFailure[];
  warnings: string[];
  peakRssBytes: number;
  cpuSeconds: number;
  seconds: number;
}

/** The fields every build and shard result reports about its run: caches, head check, warnings, resources, time. */
function runFacts(ctx: BuildContext, t0: number): Pick<BuildResult, 'cacheDir' | 'resultsDir' | 'headCheck' | 'warnings' | 'peakRssBytes' | 'cpuSeconds' | 'seconds'> {
  const u = process.cpuUsage();
  return {
    cacheDir: ctx.store.dir,
    resultsDir: ctx.results.dir,
    headCheck: ctx.headCheck,
    warnings: ctx.warnings,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuSeconds: (u.user + u.system) / 1e6,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Resolve the dataset layout and the split (default: train for CUB, all for ImageFolder). */
async function datasetLayout(o: ResolvedBuildOptions): Promise<{ format: DatasetFormat; split: Split }> {
  const format: DatasetFormat = o.format === 'auto' ? ((await isCubLayout(o.data)) ? 'cub' : 'imagefolder') : o.format;
  return { format, split: o.split ?? (format === 'cub' ? 'train' : 'all') };
}

/** What results depend on besides the features: the key of the results cache. */
function resultKey(o: ResolvedBuildOptions): unknown {
  return {
    protolens: packageVersion(),
    decompose: o.decompose,
    exemplars: o.exemplars > 0 ? { perPrototype: o.exemplars, percentile: o.exemplarPercentile, format: o.exemplarFormat, quality: o.exemplarQuality, ...(o.exemplarFormat === 'webp' ? { effort: o.exemplarEffort } : {}), contextSize: o.exemplarContextSize } : null,
  };
}

/** Everything the steps share once the model and dataset are open. */
interface BuildContext {
  o: ResolvedBuildOptions;
  format: DatasetFormat;
  split: Split;
  dataset: Dataset;
  classNames: string[];
  C: number;
  H: number;
  W: number;
  HW: number;
  D: number;
  k: number;
  cfg: PreprocessConfig;
  store: FeatureStore;
  results: ResultStore;
  modelInfo: { sha256: string; inputName: string; featureTensor: string; logitsOutput: string; nonNegative: boolean; input: { height: number; width: number } };
  headCheck: HeadCheck;
  headW: Float32Array;
  headB: Float32Array;
  warn: (m: string) => void;
  warnings: string[];
  signal: AbortSignal | undefined;
  label: (c: number) => string;
  /** The class's images after the cap. */
  itemsOf: (c: number) => Promise<ImageItem[]>;
}

/** Open the dataset and the classifier, check them against each other, open the caches. The caller closes the classifier. */
async function openBuild(o: ResolvedBuildOptions, layout: { format: DatasetFormat; split: Split }, options: BuildOptions, warn: (m: string) => void, warnings: string[]): Promise<{ ctx: BuildContext; classifier: Classifier }> {
  const dataset = await openDataset(o.data, { format: layout.format, split: layout.split, ...(o.classList !== undefined ? { classList: o.classList } : {}) });
  const classNames = dataset.classNames;
  const classifier = await loadClassifier(o.model, {
    ...(o.inputSize !== null ? { inputSize: o.inputSize } : {}),
    ...(o.inputLayout ? { inputLayout: o.inputLayout } : {}),
    ...(o.logitsOutput ? { logitsOutput: o.logitsOutput } : {}),
    ...(o.tokenGrid ? { tokenGrid: o.tokenGrid } : {}),
    ...(o.ortThreads !== null ? { intraOpThreads: o.ortThreads } : {}),
    ...(o.headTolerance !== null ? { tolerance: o.headTolerance } : {}),
  });
  try {
    const C = classifier.head.numClasses;
    const { H, W, HW, D } = classifier.features;
    const k = o.decompose.k;
    checkClassCount(dataset, C, `model '${o.model}'`);
    if (k > D) throw new InputError(`option k = ${k} exceeds the ${D} feature channels of model '${o.model}'`);
    const cfg = makePreprocessConfig({ ...o.preprocess, size: [classifier.input.height, classifier.input.width], layout: classifier.input.layout });
    checkPreprocessFits(classifier, cfg);
    if (!classifier.features.nonNegative) {
      warn(`features '${classifier.features.tensor}' are not non-negative by construction: NMF runs on channels shifted by their minimum (heatmaps use the real features)`);
    }
    const store = await FeatureStore.open(o.cache, { modelSha256: classifier.sha256, featureTensor: classifier.features.tensor, preprocess: cfg, H, W, D, numClasses: C });
    const results = await ResultStore.open(store.dir, resultKey(o));
    const ctx: BuildContext = {
      o,
      ...layout,
      dataset,
      classNames,
      C,
      H,
      W,
      HW,
      D,
      k,
      cfg,
      store,
      results,
      modelInfo: {
        sha256: classifier.sha256,
        inputName: classifier.input.name,
        featureTensor: classifier.features.tensor,
        logitsOutput: classifier.logitsOutput,
        nonNegative: classifier.features.nonNegative,
        input: { height: classifier.input.height, width: classifier.input.width },
      },
      headCheck: classifier.headCheck,
      headW: Float32Array.from(classifier.head.W),
      headB: Float32Array.from(classifier.head.b),
      warn,
      warnings,
      signal: options.signal,
      label: (c) => classLabel({ classIndex: c, className: classNames[c] }),
      itemsOf: async (c) => capItems(await dataset.itemsOfClass(c), o.maxImagesPerClass ?? undefined),
    };
    return { ctx, classifier };
  } catch (e) {
    await classifier.close();
    throw e;
  }
}

/** The classes among `classes` without a valid cached result, in order, with their images' fingerprints. */
async function classesWithoutResult(ctx: BuildContext, classes: readonly number[]): Promise<Map<number, string[]>> {
  const missing = new Map<number, string[]>();
  for (const c of classes) {
    throwIfAborted(ctx.signal);
    const fingerprints = await fingerprintItems(await ctx.itemsOf(c));
    if (!(await ctx.results.has(c, fingerprints))) missing.set(c, fingerprints);
  }
  return missing;
}

/**
 * Compute the result of every class of `missing` (classesWithoutResult of the run's `total` classes):
 * extract (or reuse) its features, decompose, render its exemplars, write its result file. Closes the
 * classifier once the features are settled. `onClassDone` runs after each class is finished (computed
 * or cached).
 */
async function computeClasses(
  ctx: BuildContext,
  classifier: Classifier,
  total: number,
  missing: ReadonlyMap<number, string[]>,
  hooks: BuildHooks,
  onClassDone?: (done: number, computed: number) => Promise<void>,
): Promise<ComputeReport> {
  const { o, store, results, dataset, classNames, HW, D, H, W, k, signal, label } = ctx;
  const pending = [...missing.keys()];
  let extraction: ExtractClassesReport;
  try {
    extraction = await extractClasses(
      classifier,
      dataset,
      store,
      ctx.cfg,
      {
        batchSize: o.batchSize ?? undefined,
        strict: o.strict,
        signal,
        maxImagesPerClass: o.maxImagesPerClass ?? undefined,
        verifyHead: ctx.headCheck.tolerance,
        classes: pending,
        ...(o.exemplars > 0 ? { keepPictures: { quality: KEPT_PICTURE_QUALITY } } : {}),
      },
      {
        onProgress: (done, total, c) => hooks.onProgress?.({ phase: 'extract', done, total, unit: 'images', classIndex: c, className: classNames[c] }),
        onClass: (info) => hooks.onClassExtracted?.({ ...info, className: classNames[info.classIndex] }),
      },
    );
  } finally {
    await classifier.close();
  }
  const cachedCount = total - pending.length;
  await onClassDone?.(cachedCount, 0);

  const counts = new Map<number, { images: number; failed: number; failures: ItemFailure[]; fingerprints: string[] }>();
  const loader: ClassLoader = {
    count: pending.length,
    load: async (i) => {
      throwIfAborted(signal);
      const c = pending[i];
      const cf = await store.read(c);
      if (o.strict && cf.failures.length > 0) {
        const f = cf.failures[0];
        throw new InputError(`image ${f.path}: ${f.reason} (${label(c)}, recorded in the feature cache; strict mode accepts no undecodable images)`);
      }
      counts.set(c, { images: cf.n, failed: cf.failures.length, failures: cf.failures, fingerprints: missing.get(c)! });
      checkUsableClass(cf.features, cf.n, HW, D, k, label(c), cf.failures.length);
      return { F: cf.features, n: cf.n, hw: HW, d: D, v: ctx.headW.slice(c * D, (c + 1) * D), classIndex: c, className: classNames[c] };
    },
  };
  const scorer = o.exemplars > 0 && pending.length > 0 ? await ExemplarScorer.create() : null;
  let exemplarSeconds = 0;
  let pictures = 0;
  const tDecompose = performance.now();
  let done = 0;
  try {
    // Read ahead of the loop so that the workers go on decomposing while this thread renders a
    // finished class's exemplars and writes its result.
    for await (const r of prefetch(decomposeClassesStream(loader, { ...o.decomposeInput, threads: o.threads }), Math.max(1, o.threads))) {
      const c = r.classIndex as number;
      const count = counts.get(c)!;
      counts.delete(c);
      let exemplars: { entry: ClassExemplars; files: { path: string; bytes: Uint8Array }[] } | null = null;
      if (scorer) {
        throwIfAborted(signal);
        const te = performance.now();
        const cf = await store.read(c);
        const byId = new Map((await dataset.itemsOfClass(c)).map((it) => [it.id, it]));
        const items = cf.items.map((id) => {
          const it = byId.get(id);
          if (!it) throw new InputError(`${label(c)}: cached image '${id}' is no longer in dataset ${o.data}; delete ${store.classPath(c)} and rebuild`);
          return it;
        });
        const rendered = await renderClassExemplars(
          scorer,
          { classIndex: c, className: classNames[c], features: cf.features, items, ...(cf.pictures ? { pictures: cf.pictures } : {}), prototypes: r.prototypes, k: r.k, H, W, D },
          {
            datasetRoot: o.data,
            preprocess: ctx.cfg,
            perPrototype: o.exemplars,
            percentile: o.exemplarPercentile,
            format: o.exemplarFormat,
            quality: o.exemplarQuality,
            effort: o.exemplarEffort,
            contextSize: o.exemplarContextSize,
          },
        );
        exemplars = { entry: rendered.exemplars, files: rendered.files };
        pictures += rendered.files.length;
        exemplarSeconds += (performance.now() - te) / 1000;
      }
      await results.write(
        {
          classIndex: c,
          images: count.images,
          failed: count.failed,
          failures: count.failures,
          diagnostics: diagnosticsJson(r),
          prototypes: r.prototypes,
          initialPrototypes: r.initialPrototypes,
          alpha: r.alpha,
          residualTerm: r.residualTerm,
          exemplars,
        },
        count.fingerprints,
      );
      done++;
      hooks.onProgress?.({ phase: 'decompose', done, total: pending.length, unit: 'classes', classIndex: c, className: classNames[c] });
      await onClassDone?.(cachedCount + done, done);
    }
  } finally {
    await scorer?.close();
  }
  return {
    extraction: {
      classesExtracted: extraction.classesExtracted,
      classesCached: extraction.classesCached,
      imagesExtracted: extraction.imagesExtracted,
      imagesFailed: extraction.imagesFailed,
      seconds: extraction.seconds,
      headCheck: extraction.headCheck,
    },
    decomposition: { seconds: (performance.now() - tDecompose) / 1000, threads: o.threads, classesComputed: pending.length, classesFromCache: cachedCount },
    exemplars: o.exemplars > 0 ? { pictures, seconds: exemplarSeconds } : null,
  };
}

/**
 * The error for an assembly that lacks classes: which classes, which shards own them and what those
 * shards last reported.
 */
async function missingClassesError(ctx: BuildContext, missing: readonly number[]): Promise<InputError> {
  const plans = await readShardPlans(ctx.results.dir);
  const plan = plans[plans.length - 1];
  const lines: string[] = [];
  const list = missing.slice(0, 10).map((c) => `${c}${plan ? ` (shard ${plan.assignment[c]}/${plan.count})` : ''}`).join(', ');
  lines.push(`the results cache ${ctx.results.dir} lacks ${missing.length} of ${ctx.C} classes: ${list}${missing.length > 10 ? ', ...' : ''}`);
  if (plan) {
    const owners = [...new Set(missing.map((c) => plan.assignment[c]))].sort((a, b) => a - b);
    const records = new Map((await readShardRecords(ctx.results.dir, plan.count)).map((r) => [r.index, r]));
    const states = owners.map((s) => {
      const r = records.get(s);
      if (!r) return `${s}/${plan.count} never started`;
      if (r.state === 'failed') return `${s}/${plan.count} failed on ${r.host}: ${r.error ?? 'unknown error'}`;
      return `${s}/${plan.count} ${r.state} on ${r.host} (pid ${r.pid}${r.job ? `, ${r.job}` : ''}), ${r.classesDone} of ${r.classes} classes, last update ${r.updated}`;
    });
    lines.push(`shards still missing: ${states.join('; ')}`);
  }
  lines.push("wait for the shards (protolens status --cache shows them), rerun the failed ones, or pass --complete to compute the missing classes here");
  return new InputError(lines.join('\n'));
}

/** Read every class's result and write the network into `out` (exemplars, index, tensors, manifest). */
async function assemble(ctx: BuildContext, out: OutputFolder): Promise<{ manifest: NetworkManifest; failures: ItemFailure[]; images: number }> {
  const { o, C, D, H, W, classNames, modelInfo, signal, label } = ctx;
  // With k 'auto' the classes' k differ: the tensors hold the largest, padded with zero prototypes
  // (alpha 0), and prototype_count says how many each class has.
  let k = ctx.k;
  if (o.decompose.kAuto) {
    k = 1;
    for (let c = 0; c < C; c++) k = Math.max(k, (await ctx.results.summary(c)).prototypes);
  }
  const prototypeCounts = new Int32Array(C);
  const tensors: NetworkTensors = {
    prototypes: new Float32Array(C * k * D),
    initialPrototypes: new Float32Array(C * k * D),
    alpha: new Float32Array(C * k),
    residualTerm: new Float32Array(C * D),
    headWeight: ctx.headW,
    bias: ctx.headB,
    prototypeCounts,
  };
  const classes: ClassSummary[] = new Array(C);
  const failures: ItemFailure[] = [];
  const exemplarClasses: ClassExemplars[] = [];
  let images = 0;
  for (let c = 0; c < C; c++) {
    throwIfAborted(signal);
    const r = await ctx.results.read(c);
    const kc = r.alpha.length;
    const kOk = o.decompose.kAuto ? kc >= 1 && kc <= k : kc === k;
    if (r.prototypes.length !== kc * D || r.initialPrototypes.length !== kc * D || !kOk) {
      throw new InputError(`${ctx.results.classPath(c)}: ${label(c)} has ${kc} prototypes of ${r.prototypes.length / Math.max(1, kc)} values, expected ${o.decompose.kAuto ? `1 to ${k}` : `k = ${k}`} of ${D}; delete the file to recompute it`);
    }
    prototypeCounts[c] = kc;
    if (o.strict && r.failures.length > 0) {
      const f = r.failures[0];
      throw new InputError(`image ${f.path}: ${f.reason} (${label(c)}, recorded in the results cache; strict mode accepts no undecodable images)`);
    }
    tensors.prototypes.set(r.prototypes, c * k * D);
    tensors.initialPrototypes.set(r.initialPrototypes, c * k * D);
    for (let i = 0; i < kc; i++) tensors.alpha[c * k + i] = r.alpha[i];
    if (r.residualTerm) tensors.residualTerm.set(r.residualTerm, c * D);
    classes[c] = { index: c, name: classNames[c], images: r.images, failed: r.failed, diagnostics: r.diagnostics };
    for (const w of (r.diagnostics.warnings as string[] | undefined) ?? []) ctx.warn(w);
    failures.push(...r.failures);
    images += r.images;
    if (o.exemplars > 0) {
      if (!r.exemplars) throw new InputError(`${ctx.results.classPath(c)}: ${label(c)} has no exemplars; delete the file to recompute it`);
      await writeExemplarFiles(out.staging, r.exemplars.files);
      exemplarClasses.push(r.exemplars.entry);
    }
  }
  if (o.exemplars > 0) {
    await writeExemplarIndex(out.staging, {
      ...exemplarIndexHeader(o.exemplars, o.exemplarPercentile, modelInfo.input, { height: H, width: W }),
      classes: exemplarClasses,
    });
  }
  const manifest: NetworkManifest = {
    schema: NETWORK_SCHEMA,
    schemaVersion: NETWORK_SCHEMA_VERSION,
    generator: { name: 'protolens', version: packageVersion() },
    model: {
      path: pathFromNetwork(o.out, o.model),
      sha256: modelInfo.sha256,
      inputName: modelInfo.inputName,
      featureTensor: modelInfo.featureTensor,
      logitsOutput: modelInfo.logitsOutput,
    },
    input: modelInfo.input,
    featureMap: { height: H, width: W, channels: D, nonNegative: modelInfo.nonNegative },
    preprocess: ctx.cfg,
    dataset: { root: pathFromNetwork(o.out, o.data), format: ctx.format, split: ctx.split, maxImagesPerClass: o.maxImagesPerClass },
    classNames,
    k,
    options: {
      ...o.decompose,
      build: {
        maxImagesPerClass: o.maxImagesPerClass,
        imageSelection: o.maxImagesPerClass === null ? 'all' : 'evenly-spaced',
        inputSize: o.inputSize,
        inputLayout: o.inputLayout ?? null,
        logitsOutput: o.logitsOutput ?? null,
        tokenGrid: o.tokenGrid ?? null,
        headTolerance: o.headTolerance,
        batchSize: o.batchSize,
        exemplars: o.exemplars,
        exemplarPercentile: o.exemplarPercentile,
        exemplarFormat: o.exemplarFormat,
        exemplarQuality: o.exemplarQuality,
        exemplarEffort: o.exemplarEffort,
        exemplarContextSize: o.exemplarContextSize,
        strict: o.strict,
      },
    },
    seed: o.decompose.seed,
    classes,
    failures,
    exemplars: o.exemplars > 0 ? { perPrototype: o.exemplars, percentile: o.exemplarPercentile, index: EXEMPLAR_INDEX_FILE } : null,
    tensors: TENSORS_FILE,
  };
  throwIfAborted(signal);
  await out.publish(manifest, tensors);
  return { manifest, failures, images };
}

/** Options of a build that may only assemble or complete what shards left. */
export interface AssembleOptions {
  /**
   * When shards were planned in this cache and some classes have no result: compute them here
   * (true), or fail naming them and their shards (false, the default).
   */
  complete?: boolean;
}

function warner(hooks: BuildHooks): { warn: (m: string) => void; warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (m: string) => {
      warnings.push(m);
      hooks.onWarning?.(m);
    },
  };
}

/**
 * Build a part-prototype network from a classifier and its training images. See the module doc.
 * When shards were planned in the cache (`buildShard`), it assembles their results; classes still
 * missing are an error naming them (or computed here with `complete`).
 */
export async function buildNetwork(options: BuildOptions & AssembleOptions, hooks: BuildHooks = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const o = resolveBuildOptions(options);
  const { warn, warnings } = warner(hooks);
  throwIfAborted(options.signal);
  const layout = await datasetLayout(o);
  // In an ImageFolder every sub-folder is a class: a network written inside the dataset would be read
  // as one by the next build. (A CUB root lists its images, so a folder inside it is harmless.)
  if (layout.format === 'imagefolder' && (await isSameOrInside(o.out, o.data))) {
    throw new InputError(`--out ${o.out} lies inside the ImageFolder dataset ${o.data}, where every folder is read as a class; write the network outside the dataset`);
  }
  // The output folder is checked and created first, so a folder that cannot be used fails in seconds,
  // not after the extraction; a failed build removes what it created.
  const out = await OutputFolder.prepare(o.out);
  try {
    const { ctx, classifier } = await openBuild(o, layout, options, warn, warnings);
    const all = ctx.classNames.map((_, c) => c);
    let report: ComputeReport;
    try {
      const missing = await classesWithoutResult(ctx, all);
      if (missing.size > 0 && !options.complete && (await readShardPlans(ctx.results.dir)).length > 0) throw await missingClassesError(ctx, [...missing.keys()]);
      report = await computeClasses(ctx, classifier, all.length, missing, hooks);
    } finally {
      await classifier.close();
    }
    const { manifest, failures, images } = await assemble(ctx, out);
    if (failures.length > 0) warn(`${failures.length} image${failures.length === 1 ? ' was' : 's were'} skipped (could not be decoded); listed under 'failures' in ${join(o.out, MANIFEST_FILE)}`);
    return {
      ...report,
      ...runFacts(ctx, t0),
      dir: o.out,
      manifest,
      assembled: report.extraction.classesExtracted === 0 && report.decomposition.classesComputed === 0,
      images,
      failures,
    };
  } catch (e) {
    await out.abandon();
    throw e;
  }
}

/**
 * Compute one shard's classes into the shared cache (features and results) and write no network.
 * Every shard computes the same plan from the class sizes (src/builder/shards.ts) and records its
 * progress; a killed shard rerun resumes at its first unfinished class. Run `buildNetwork` with the
 * same options afterwards to assemble the network.
 */
export async function buildShard(options: BuildOptions & { shard: ShardSpec }, hooks: BuildHooks = {}): Promise<ShardResult> {
  const t0 = performance.now();
  const o = resolveBuildOptions(options);
  const { warn, warnings } = warner(hooks);
  throwIfAborted(options.signal);
  const layout = await datasetLayout(o);
  const { ctx, classifier } = await openBuild(o, layout, options, warn, warnings);
  let recorder: ShardRecorder | null = null;
  try {
    const sizes: number[] = [];
    for (let c = 0; c < ctx.C; c++) sizes.push((await ctx.itemsOf(c)).length);
    const plan = await writeShardPlan(ctx.results.dir, sizes, options.shard.count);
    const mine = plan.assignment.flatMap((s, c) => (s === options.shard.index ? [c] : []));
    recorder = await ShardRecorder.start(ctx.results.dir, options.shard, mine.length);
    const rec = recorder;
    const report = await computeClasses(ctx, classifier, mine.length, await classesWithoutResult(ctx, mine), hooks, (done, computed) => rec.progress(done, computed));
    const failures: ItemFailure[] = [];
    let images = 0;
    for (const c of mine) {
      const r = await ctx.results.summary(c);
      failures.push(...r.failures);
      images += r.images;
      for (const w of r.warnings) warn(w);
    }
    await recorder.finish();
    return {
      ...report,
      ...runFacts(ctx, t0),
      shard: options.shard,
      classes: mine,
      plan: planPath(ctx.results.dir, options.shard.count),
      images,
      failures,
    };
  } catch (e) {
    await recorder?.finish(e).catch(() => undefined);
    throw e;
  } finally {
    await classifier.close(); // closed already once the features were settled; closing again does nothing
  }
}
