/**
 * `buildNetwork`: from an ONNX classifier and a training set to the network artifact.
 *
 * 1. Load the classifier (head check included), open the dataset, check its class count against
 *    the head, fix the preprocessing (size and layout from the model).
 * 2. Extract features class by class into the on-disk cache (resumable; cached classes skipped).
 * 3. Decompose every class on worker threads, reading each class's features from the cache only
 *    when a worker is free; after each class, score its training images against its refined
 *    prototypes and write its exemplar pictures.
 * 4. Write the artifact: exemplars/index.json, prototypes.safetensors, manifest.json (last).
 *
 * Memory is bounded by a few classes' features (the one being extracted, the ones in the workers,
 * the one being scored for exemplars) plus the output tensors (C x k x D), whatever the number of
 * images.
 */
import { join } from 'node:path';
import { checkClassCount, type DatasetFormat, type Split } from '../data/dataset.ts';
import { isCubLayout } from '../data/cub.ts';
import { makePreprocessConfig, type PreprocessConfig } from '../data/preprocess-config.ts';
import { openDataset } from '../data/open.ts';
import { extractClasses, type ClassExtraction, type ExtractClassesReport } from '../features/extract-classes.ts';
import { checkPreprocessFits, throwIfAborted } from '../features/extract.ts';
import { FeatureStore, type ItemFailure } from '../features/store.ts';
import { loadClassifier, type HeadCheck } from '../model/classifier.ts';
import { classLabel } from '../prototypes/decompose.ts';
import { ExemplarScorer, KEPT_PICTURE_QUALITY, writeClassExemplars } from './exemplars.ts';
import { EXEMPLAR_INDEX_FILE, exemplarIndexHeader, writeExemplarIndex, type ClassExemplars } from '../network/exemplar-index.ts';
import { MANIFEST_FILE, NETWORK_SCHEMA, NETWORK_SCHEMA_VERSION, TENSORS_FILE, type ClassSummary, type NetworkManifest, type NetworkTensors } from '../network/artifact.ts';
import { decomposeClassesStream, type ClassLoader } from '../prototypes/parallel.ts';
import { InputError } from '../util/errors.ts';
import { diagnosticsJson, pathFromNetwork } from '../network/manifest-fields.ts';
import { packageVersion } from '../util/version.ts';
import { resolveBuildOptions, type BuildOptions, type ResolvedBuildOptions } from './options.ts';
import { OutputFolder } from './output.ts';
import { isSameOrInside } from '../io/paths.ts';
import { checkUsableClass } from './usable.ts';

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

export interface BuildResult {
  /** The network folder. */
  dir: string;
  manifest: NetworkManifest;
  /** The feature cache folder used (root / key hash). */
  cacheDir: string;
  /** The load-time logit check of the classifier. */
  headCheck: HeadCheck;
  extraction: Omit<ExtractClassesReport, 'classes'>;
  decomposition: { seconds: number; threads: number };
  exemplars: { pictures: number; seconds: number } | null;
  /** Training images whose features were used, over all classes. */
  images: number;
  /** Images skipped because they could not be decoded (also in the manifest). */
  failures: ItemFailure[];
  warnings: string[];
  /** Peak resident set size of the process so far, bytes (process.resourceUsage().maxRSS). */
  peakRssBytes: number;
  seconds: number;
}

/** Resolve the dataset layout and the split (default: train for CUB, all for ImageFolder). */
async function datasetLayout(o: ResolvedBuildOptions): Promise<{ format: DatasetFormat; split: Split }> {
  const format: DatasetFormat = o.format === 'auto' ? ((await isCubLayout(o.data)) ? 'cub' : 'imagefolder') : o.format;
  return { format, split: o.split ?? (format === 'cub' ? 'train' : 'all') };
}

/** Build a part-prototype network from a classifier and its training images. See the module doc. */
export async function buildNetwork(options: BuildOptions, hooks: BuildHooks = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const o = resolveBuildOptions(options);
  const signal = options.signal;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    hooks.onWarning?.(m);
  };
  throwIfAborted(signal);
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
    return await buildInto(out, layout, o, options, hooks, warn, warnings, t0);
  } catch (e) {
    await out.abandon();
    throw e;
  }
}

async function buildInto(
  out: OutputFolder,
  { format, split }: { format: DatasetFormat; split: Split },
  o: ResolvedBuildOptions,
  options: BuildOptions,
  hooks: BuildHooks,
  warn: (m: string) => void,
  warnings: string[],
  t0: number,
): Promise<BuildResult> {
  const signal = options.signal;
  const dataset = await openDataset(o.data, { format, split, ...(o.classList !== undefined ? { classList: o.classList } : {}) });
  const classNames = dataset.classNames;
  const classifier = await loadClassifier(o.model, {
    ...(o.inputSize !== null ? { inputSize: o.inputSize } : {}),
    ...(o.inputLayout ? { inputLayout: o.inputLayout } : {}),
    ...(o.logitsOutput ? { logitsOutput: o.logitsOutput } : {}),
    ...(o.tokenGrid ? { tokenGrid: o.tokenGrid } : {}),
    ...(o.ortThreads !== null ? { intraOpThreads: o.ortThreads } : {}),
    ...(o.headTolerance !== null ? { tolerance: o.headTolerance } : {}),
  });
  const C = classifier.head.numClasses;
  const { H, W: Wd, HW, D } = classifier.features;
  const k = o.decompose.k;
  let cfg: PreprocessConfig;
  let store: FeatureStore;
  let extraction: ExtractClassesReport;
  const modelInfo = {
    sha256: classifier.sha256,
    inputName: classifier.input.name,
    featureTensor: classifier.features.tensor,
    logitsOutput: classifier.logitsOutput,
    nonNegative: classifier.features.nonNegative,
    input: { height: classifier.input.height, width: classifier.input.width },
  };
  const headCheck = classifier.headCheck;
  const headW = Float32Array.from(classifier.head.W);
  const headB = Float32Array.from(classifier.head.b);
  try {
    checkClassCount(dataset, C, `model '${o.model}'`);
    if (k > D) throw new InputError(`option k = ${k} exceeds the ${D} feature channels of model '${o.model}'`);
    cfg = makePreprocessConfig({ ...o.preprocess, size: [classifier.input.height, classifier.input.width], layout: classifier.input.layout });
    checkPreprocessFits(classifier, cfg);
    if (!classifier.features.nonNegative) {
      warn(`features '${classifier.features.tensor}' are not non-negative by construction: NMF runs on channels shifted by their minimum (heatmaps use the real features)`);
    }
    store = await FeatureStore.open(o.cache, { modelSha256: classifier.sha256, featureTensor: classifier.features.tensor, preprocess: cfg, H, W: Wd, D, numClasses: C });
    extraction = await extractClasses(
      classifier,
      dataset,
      store,
      cfg,
      {
        batchSize: o.batchSize ?? undefined,
        strict: o.strict,
        signal,
        maxImagesPerClass: o.maxImagesPerClass ?? undefined,
        verifyHead: headCheck.tolerance,
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

  let scorer: ExemplarScorer | null = null;
  try {
    const tensors: NetworkTensors = {
      prototypes: new Float32Array(C * k * D),
      initialPrototypes: new Float32Array(C * k * D),
      alpha: new Float32Array(C * k),
      residualTerm: new Float32Array(C * D),
      headWeight: headW,
      bias: headB,
    };
    const classes: ClassSummary[] = new Array(C);
    const failures: ItemFailure[] = [];
    const counts: { images: number; failed: number }[] = new Array(C);
    const label = (c: number) => classLabel({ classIndex: c, className: classNames[c] });
    const loader: ClassLoader = {
      count: C,
      load: async (c) => {
        throwIfAborted(signal);
        const cf = await store.read(c);
        if (o.strict && cf.failures.length > 0) {
          const f = cf.failures[0];
          throw new InputError(`image ${f.path}: ${f.reason} (${label(c)}, recorded in the feature cache; strict mode accepts no undecodable images)`);
        }
        failures.push(...cf.failures);
        counts[c] = { images: cf.n, failed: cf.failures.length };
        checkUsableClass(cf.features, cf.n, HW, D, k, label(c), cf.failures.length);
        return { F: cf.features, n: cf.n, hw: HW, d: D, v: headW.slice(c * D, (c + 1) * D), classIndex: c, className: classNames[c] };
      },
    };

    scorer = o.exemplars > 0 ? await ExemplarScorer.create() : null;
    const exemplarClasses: ClassExemplars[] = [];
    let exemplarSeconds = 0;
    let pictures = 0;
    const tDecompose = performance.now();
    let done = 0;
    for await (const r of decomposeClassesStream(loader, { ...o.decomposeInput, threads: o.threads })) {
      const c = r.classIndex as number;
      tensors.prototypes.set(r.prototypes, c * k * D);
      tensors.initialPrototypes.set(r.initialPrototypes, c * k * D);
      for (let i = 0; i < k; i++) tensors.alpha[c * k + i] = r.alpha[i];
      if (r.residualTerm) tensors.residualTerm.set(r.residualTerm, c * D);
      classes[c] = { index: c, name: classNames[c], images: counts[c].images, failed: counts[c].failed, diagnostics: diagnosticsJson(r) };
      for (const w of r.diagnostics.warnings) warn(w);
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
        const ce = await writeClassExemplars(
          scorer,
          { classIndex: c, className: classNames[c], features: cf.features, items, ...(cf.pictures ? { pictures: cf.pictures } : {}), prototypes: r.prototypes, k, H, W: Wd, D },
          {
            dir: out.staging,
            datasetRoot: o.data,
            preprocess: cfg,
            perPrototype: o.exemplars,
            percentile: o.exemplarPercentile,
            format: o.exemplarFormat,
            quality: o.exemplarQuality,
            contextSize: o.exemplarContextSize,
          },
        );
        exemplarClasses.push(ce);
        pictures += 2 * ce.prototypes.reduce((a, p) => a + p.length, 0);
        exemplarSeconds += (performance.now() - te) / 1000;
      }
      hooks.onProgress?.({ phase: 'decompose', done: ++done, total: C, unit: 'classes', classIndex: c, className: classNames[c] });
    }
    const decomposeSeconds = (performance.now() - tDecompose) / 1000 - exemplarSeconds;
    if (scorer) {
      await writeExemplarIndex(out.staging, {
        ...exemplarIndexHeader(o.exemplars, o.exemplarPercentile, modelInfo.input, { height: H, width: Wd }),
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
      featureMap: { height: H, width: Wd, channels: D, nonNegative: modelInfo.nonNegative },
      preprocess: cfg,
      dataset: { root: pathFromNetwork(o.out, o.data), format, split, maxImagesPerClass: o.maxImagesPerClass },
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
          exemplarContextSize: o.exemplarContextSize,
          strict: o.strict,
        },
      },
      seed: o.decompose.seed,
      classes,
      failures,
      exemplars: scorer ? { perPrototype: o.exemplars, percentile: o.exemplarPercentile, index: EXEMPLAR_INDEX_FILE } : null,
      tensors: TENSORS_FILE,
    };
    throwIfAborted(signal);
    await out.publish(manifest, tensors);
    if (failures.length > 0) warn(`${failures.length} image${failures.length === 1 ? ' was' : 's were'} skipped (could not be decoded); listed under 'failures' in ${join(o.out, MANIFEST_FILE)}`);
    return {
      dir: o.out,
      manifest,
      cacheDir: store.dir,
      headCheck,
      extraction: {
        classesExtracted: extraction.classesExtracted,
        classesCached: extraction.classesCached,
        imagesExtracted: extraction.imagesExtracted,
        imagesFailed: extraction.imagesFailed,
        seconds: extraction.seconds,
        headCheck: extraction.headCheck,
      },
      decomposition: { seconds: decomposeSeconds, threads: o.threads },
      exemplars: scorer ? { pictures, seconds: exemplarSeconds } : null,
      images: counts.reduce((a, x) => a + x.images, 0),
      failures,
      warnings,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await scorer?.close();
  }
}
