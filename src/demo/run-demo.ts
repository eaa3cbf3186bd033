/**
 * `runDemo`: the whole method on the bundled parts dataset, from nothing to one page.
 *
 *  1. dataset    generate the synthetic parts dataset the demo model was trained on (cached), and a contact sheet;
 *  2. build      the part-prototype network of the committed model (k = 3, the default preset), exemplars included;
 *  3. classify   the model over the test split: accuracy, and a misclassified image to explain;
 *  4. explain    the first test image of the first few classes and the misclassified one (cards, overlays);
 *  5. evaluate   fidelity, consistency and stability (refined vs NMF vs random split), deletion/insertion,
 *                axioms on the test split, when the evaluation module is present;
 *  6. page       index.html (gallery, explanations, diagnostics, evaluation) and summary.json.
 *
 * Everything is seeded; a second run reuses the dataset and the feature cache.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { buildNetwork, type BuildProgress } from '../builder/build.ts';
import { openDataset } from '../data/open.ts';
import { type ImageItem } from '../data/types.ts';
import { generatePartsDataset, type PartsDatasetResult } from '../data/synthetic/generate.ts';
import type { EvaluateProgress } from '../evaluate/evaluate-network.ts';
import type { EvaluationReport } from '../evaluate/output/report.ts';
import { Explainer, type ImageExplanation } from '../explain/explain.ts';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { CheckError, InputError } from '../util/errors.ts';
import { chooseImages } from './choose-images.ts';
import { cachedContactSheet } from './contact-sheet-cache.ts';
import { readDemoModelRecord, type DemoModelRecord } from './model-record.ts';
import { resolveDemoOptions, type DemoOptions, type ResolvedDemoOptions } from './options.ts';
import { DEMO_LAYOUT, prepareDemoFolder } from './output-folder.ts';
import { renderDemoPage } from './page/page.ts';
import { describePreprocess, pageClasses } from '../html/page-classes.ts';
import type { DemoPageData, PageEvaluation, PageExplanation, PageSanity, PageStep } from '../html/page-data.ts';
import { evaluationView } from './page/evaluation.ts';
import { METRIC_NAMES } from '../evaluate/output/report.ts';
import { brokenReferences } from './page/links.ts';
import { writeSite, type SiteResult } from '../site/write-site.ts';
import { DEMO_SUMMARY_SCHEMA, DEMO_SUMMARY_VERSION, type DemoSummary, type SetFigures } from './summary.ts';
import { classifySplit, type TestPassResult } from './test-pass.ts';
import type { RandomisationReport } from '../checks/randomisation.ts';
import { sanityView } from '../viewer/sanity-report.ts';

/** The sanity check's own steps (its progress). */
const SANITY_STEPS = ['randomise', 'build', 'evaluate original', 'evaluate randomised'] as const;

/** The steps, in order. */
export const DEMO_STEPS = ['dataset', 'build', 'classify', 'explain', 'evaluate', 'sanity', 'page'] as const;
export type DemoStepName = (typeof DEMO_STEPS)[number];

/** Progress within a step. */
export interface DemoProgress {
  step: DemoStepName;
  /** A part of the step with its own count, e.g. 'features', 'prototypes', 'images', 'deletion'. */
  task: string;
  done: number;
  total: number;
  unit: string;
  note?: string;
}

export interface DemoHooks {
  /** A step starts: its number (1-based), the step count and a one-line description. */
  onStep?(step: DemoStepName, index: number, total: number, description: string): void;
  onProgress?(p: DemoProgress): void;
  /** A step ended after `seconds`. */
  onStepDone?(step: DemoStepName, seconds: number): void;
  onWarning?(message: string): void;
}

export interface DemoResult {
  summary: DemoSummary;
  /** Absolute path of index.html. */
  page: string;
  /** The evaluation report when it ran. */
  evaluation: EvaluationReport | null;
  /**
   * An error the evaluation raised. The page and summary are still written (showing the failure);
   * callers should treat the run as failed (the CLI exits with the error's code).
   */
  evaluationError: unknown;
}

/** The evaluation entry point, or the reason it cannot be used (module absent or not loadable). */
async function loadEvaluator(): Promise<{ evaluateNetwork: typeof import('../evaluate/evaluate-network.ts').evaluateNetwork } | { reason: string }> {
  try {
    const mod = await import('../evaluate/evaluate-network.ts');
    if (typeof mod.evaluateNetwork !== 'function') return { reason: 'src/evaluate/evaluate-network.ts does not export evaluateNetwork' };
    return { evaluateNetwork: mod.evaluateNetwork };
  } catch (e) {
    return { reason: `the evaluation module could not be loaded (${(e as Error).message.split('\n')[0]})` };
  }
}

async function sha256File(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InputError(`demo model ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (the committed model is models/demo-cnn.onnx)' : (e as Error).message}`);
  }
  return createHash('sha256').update(bytes).digest('hex');
}

/** Posix path of `to` relative to `from`. */
const relPosix = (from: string, to: string) => relative(from, to).split('\\').join('/');

function setFigures(r: EvaluationReport, metric: 'consistency' | 'stability'): SetFigures | null {
  const sets = r.metrics.parts?.sets;
  if (!sets) return null;
  const get = (n: 'refined' | 'initial' | 'random') => {
    const s = sets[n];
    if (!s) return null;
    return metric === 'consistency' ? s.consistency.score : (s.stability?.score ?? null);
  };
  return { refined: get('refined'), initial: get('initial'), random: get('random') };
}

/** Run the demo. See the module doc; options and defaults in ./options.ts and docs/demo.md. */
export async function runDemo(options: DemoOptions = {}, hooks: DemoHooks = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const o: ResolvedDemoOptions = resolveDemoOptions(options);
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    hooks.onWarning?.(m);
  };
  const steps: PageStep[] = [];
  let stepStart = 0;
  const begin = (step: DemoStepName, description: string) => {
    stepStart = performance.now();
    hooks.onStep?.(step, DEMO_STEPS.indexOf(step) + 1, DEMO_STEPS.length, description);
  };
  const end = (step: DemoStepName, name: string, note?: string) => {
    const seconds = (performance.now() - stepStart) / 1000;
    steps.push({ name, seconds, ...(note ? { note } : {}) });
    hooks.onStepDone?.(step, seconds);
  };

  // The record first: it says which dataset and preprocessing the model needs.
  const record: DemoModelRecord = await readDemoModelRecord(o.record);
  const sha = await sha256File(o.model);
  if (sha !== record.sha256) {
    throw new InputError(`demo model ${o.model} has SHA-256 ${sha}, but its record ${o.record} describes a model with SHA-256 ${record.sha256}; the record and the model must come from the same training run`);
  }
  await prepareDemoFolder(o.outDir);
  const netDir = join(o.outDir, DEMO_LAYOUT.network);
  const explainDir = join(o.outDir, DEMO_LAYOUT.explanations);
  const evalDir = join(o.outDir, DEMO_LAYOUT.evaluation);

  // 1. Dataset.
  begin('dataset', 'the synthetic parts dataset (generated once, then cached)');
  const ds: PartsDatasetResult = await generatePartsDataset({ dir: join(o.cacheDir, 'dataset'), ...record.datasetParams, ...o.dataset });
  if (ds.version !== record.generatorVersion) {
    warn(`the model was trained on parts-dataset generator ${record.generatorVersion}; this is generator ${ds.version}, whose images may differ`);
  }
  const sameAsTraining = ds.version === record.generatorVersion && Object.entries(o.dataset).every(([key, v]) => key === 'concurrency' || v === (record.datasetParams as Record<string, unknown>)[key]);
  if (!sameAsTraining) warn('the dataset was generated with other sizes than the one the model was trained on: numbers differ from the documented ones');
  const sheetCached = await cachedContactSheet(ds, o.cacheDir, join(o.outDir, DEMO_LAYOUT.contactSheet));
  end('dataset', 'dataset', `${ds.counts.images} images ${ds.reused ? 'reused from the cache' : 'generated'}; contact sheet ${sheetCached ? 'from the cache' : 'drawn'}`);

  // 2. Build.
  begin('build', `the prototype network: k = ${o.k}, preset '${o.preset}'`);
  const { size: _size, layout: _layout, ...preprocess } = record.preprocess;
  const built = await buildNetwork(
    {
      model: o.model,
      data: ds.dir,
      out: netDir,
      cache: join(o.cacheDir, 'features'),
      preprocess,
      decompose: { k: o.k, preset: o.preset, seed: o.seed },
      exemplars: o.exemplars,
      ...(o.maxImagesPerClass !== null ? { maxImagesPerClass: o.maxImagesPerClass } : {}),
      ...(o.threads !== null ? { threads: o.threads } : {}),
    },
    {
      onProgress: (p: BuildProgress) =>
        hooks.onProgress?.({ step: 'build', task: p.phase === 'extract' ? 'features' : 'prototypes', done: p.done, total: p.total, unit: p.unit, note: p.className }),
      onWarning: warn,
    },
  );
  const m = built.manifest;
  const [inH, inW] = record.preprocess.size;
  if (m.input.height !== inH || m.input.width !== inW) {
    throw new InputError(`demo model ${o.model} runs at ${m.input.width} x ${m.input.height}, but its record ${o.record} was trained at ${inW} x ${inH}`);
  }
  end(
    'build',
    'build',
    built.assembled
      ? `${built.images} training images; features, prototypes and exemplars from the cache (a previous build with the same options)`
      : `${built.images} training images; features ${built.extraction.imagesExtracted === 0 ? 'from the cache' : `extracted (${built.extraction.imagesExtracted} images)`}, decomposition ${built.decomposition.seconds.toFixed(1)} s on ${built.decomposition.threads} threads, ${built.exemplars?.pictures ?? 0} exemplar pictures`,
  );

  // 3-4. Classify the test split, explain a few images.
  const explainer = await Explainer.open(netDir, { top: 5 });
  let pass: TestPassResult;
  const explained: { result: ImageExplanation; reason: string; item: ImageItem; trueClass: PageExplanation['trueClass'] }[] = [];
  try {
    begin('classify', 'the model over the test split');
    const testSet = await openDataset(ds.dir, { format: 'cub', split: 'test' });
    pass = await classifySplit(explainer.classifier, testSet, explainer.preprocess, {
      onProgress: (done, total) => hooks.onProgress?.({ step: 'classify', task: 'images', done, total, unit: 'images' }),
    });
    if (pass.failures.length > 0) warn(`${pass.failures.length} test image(s) could not be decoded and were left out`);
    end('classify', 'classify the test split', `${pass.images} images, ${pass.misclassified.length} misclassified`);

    const chosen = chooseImages(pass.items, pass.predictions, o.explainClasses, o.explainMisclassified);
    begin('explain', `${chosen.length} test images: prototype heatmaps, contributions, cards`);
    let n = 0;
    for await (const r of explainer.explainImages(chosen.map((c) => c.item), { out: explainDir })) {
      hooks.onProgress?.({ step: 'explain', task: 'images', done: ++n, total: chosen.length, unit: 'images' });
      if (r.status !== 'ok') {
        warn(`test image ${r.image} could not be explained: ${r.reason}`);
        continue;
      }
      const c = chosen[r.index];
      let trueClass: PageExplanation['trueClass'] = null;
      if (r.predicted.index !== c.item.label) {
        const t = await explainer.explainImage(c.item, { classIndex: c.item.label });
        trueClass = { logit: t.explained.logit, bias: t.explained.bias, contributions: t.explained.prototypes.map((p) => p.contribution) };
      }
      explained.push({ result: r, reason: c.reason, item: c.item, trueClass });
    }
    end('explain', 'explain test images', `${explained.length} cards`);
  } finally {
    await explainer.close();
  }

  // 5. Evaluate.
  let report: EvaluationReport | null = null;
  let evaluation: PageEvaluation;
  let evaluationError: unknown = null;
  begin('evaluate', 'fidelity, consistency and stability, deletion/insertion, axioms on the test split');
  if (!o.evaluate) {
    evaluation = { status: 'skipped', reason: 'the demo was run without evaluation' };
  } else {
    const evaluator = await loadEvaluator();
    if ('reason' in evaluator) {
      evaluation = { status: 'unavailable', reason: evaluator.reason };
      warn(`evaluation not run: ${evaluator.reason}`);
    } else {
      try {
        report = await evaluator.evaluateNetwork({
          net: netDir,
          data: ds.dir,
          format: 'cub',
          split: 'test',
          seed: o.seed,
          out: evalDir,
          // Every metric, purity included (it scans the training split too).
          metrics: [...METRIC_NAMES],
          ...(o.evaluationMaxImages !== null ? { maxImages: o.evaluationMaxImages } : {}),
          ...(o.deletionImages !== null ? { deletion: { images: o.deletionImages } } : {}),
          onProgress: (p: EvaluateProgress) =>
            hooks.onProgress?.({ step: 'evaluate', task: p.task === 'deletion' ? 'deletion' : 'images', done: p.done, total: p.total, unit: 'images' }),
        });
        evaluation = evaluationView(report, DEMO_LAYOUT.evaluation);
        for (const w of report.warnings) warn(`evaluation: ${w}`);
      } catch (e) {
        evaluationError = e;
        evaluation = { status: 'failed', reason: (e as Error)?.message ?? String(e) };
        warn(`evaluation failed: ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }
  end('evaluate', 'evaluate', evaluation.status === 'done' ? `${evaluation.images} test images` : evaluation.status);

  // 6. The model-randomisation sanity check (needs the evaluation: it compares the same scores).
  let sanity: PageSanity;
  let sanityReport: RandomisationReport | null = null;
  begin('sanity', 'the model with its last two convolutions redrawn: rebuild, evaluate, compare');
  if (!o.sanity) sanity = { status: 'skipped', reason: 'the demo was run without the sanity check' };
  else if (evaluation.status !== 'done') sanity = { status: 'skipped', reason: `the evaluation was ${evaluation.status}` };
  else {
    try {
      // Loaded on demand, as the evaluation is: the check evaluates through the same module.
      const { randomisationCheck } = await import('../checks/randomisation.ts');
      sanityReport = await randomisationCheck({
        net: netDir,
        data: ds.dir,
        out: join(o.outDir, DEMO_LAYOUT.sanity),
        seed: o.seed,
        metrics: ['consistency', 'stability', 'distinctiveness', 'comprehensiveness'],
        // The evaluation of step 5 is the trained model's side (same seed and images).
        ...(report ? { original: { report, dir: evalDir } } : {}),
        evaluation: { seed: o.seed, ...(o.evaluationMaxImages !== null ? { maxImages: o.evaluationMaxImages } : {}) },
        ...(o.threads !== null ? { threads: o.threads } : {}),
        onProgress: (step) => hooks.onProgress?.({ step: 'sanity', task: 'steps', done: SANITY_STEPS.indexOf(step), total: SANITY_STEPS.length, unit: 'steps', note: step }),
      });
      sanity = sanityView(sanityReport, DEMO_LAYOUT.sanity);
    } catch (e) {
      sanity = { status: 'failed', reason: (e as Error)?.message ?? String(e) };
      warn(`the sanity check failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  end('sanity', 'sanity check', sanity.status === 'done' ? (sanity.refinedScoresFell ? 'refined scores fell' : 'a refined score did not fall') : sanity.status);

  // 7. Site, page and summary.
  begin('page', 'index.html and the static site');
  let site: SiteResult | null = null;
  try {
    site = await writeSite({ net: netDir, out: join(o.outDir, DEMO_LAYOUT.site), title: `protolens demo: ${record.name}` });
  } catch (e) {
    warn(`the static site was not written: ${(e as Error).message}`);
  }
  const names = m.classNames;
  const exemplarsOf = explainer.exemplars;
  const classes = pageClasses({
    classNames: names,
    k: m.k,
    manifestClasses: m.classes,
    exemplars: exemplarsOf,
    networkPrefix: DEMO_LAYOUT.network,
    classTable: ds.classTable,
    perClassTest: pass.perClass,
    report,
  });
  const opts = m.options as Record<string, unknown>;
  const meanPartFidelity = (() => {
    const v = m.classes.map((c) => (c.diagnostics as { meanPartFidelity?: unknown }).meanPartFidelity).filter((x): x is number => typeof x === 'number');
    return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : null;
  })();
  const exp = (p: string) => `${DEMO_LAYOUT.explanations}/${p}`;
  const pageExplanations: PageExplanation[] = explained.map(({ result: r, reason, item, trueClass }) => ({
    image: relPosix(ds.dir, item.path),
    reason,
    label: item.label,
    predicted: r.predicted.index,
    probability: r.predicted.probability,
    explainedClass: r.explained.index,
    logit: r.explained.logit,
    bias: r.explained.bias,
    contributions: r.explained.prototypes.map((p) => p.contribution),
    trueClass,
    card: exp(r.pictures!.card),
    input: exp(r.pictures!.input),
    overlays: r.pictures!.overlays.map(exp),
  }));
  const elapsedBeforePage = (performance.now() - t0) / 1000;
  const data: DemoPageData = {
    model: {
      name: record.name,
      file: relPosix(process.cwd(), o.model),
      sha256: sha,
      architecture: record.architecture,
      parameters: record.parameters,
      input: [m.input.height, m.input.width],
      featureMap: { height: m.featureMap.height, width: m.featureMap.width, channels: m.featureMap.channels },
      preprocess: describePreprocess(record.preprocess),
    },
    dataset: { classes: ds.counts.classes, train: ds.counts.train, test: ds.counts.test, seed: ds.seed, generatorVersion: ds.version, sameAsTraining, contactSheet: DEMO_LAYOUT.contactSheet },
    build: {
      k: m.k,
      preset: String(opts.preset ?? o.preset),
      allocator: String(opts.allocator ?? ''),
      scaling: String(opts.scaling ?? ''),
      objective: String(opts.objective ?? ''),
      seed: m.seed,
      images: built.images,
      exemplars: m.exemplars?.perPrototype ?? 0,
      percentile: m.exemplars?.percentile ?? 95,
      meanPartFidelity,
      manifest: `${DEMO_LAYOUT.network}/manifest.json`,
    },
    classNames: names,
    classes,
    accuracy: { images: pass.images, correct: pass.correct, misclassified: pass.misclassified.length },
    explanations: pageExplanations,
    explanationsIndex: explained.length > 0 ? exp('index.html') : null,
    site: site ? { index: `${DEMO_LAYOUT.site}/index.html`, megabytes: site.bytes / 1e6 } : null,
    evaluation,
    sanity,
    timing: { steps: [...steps], seconds: elapsedBeforePage, cached: ds.reused && built.extraction.imagesExtracted === 0, loadAverage: loadavg(), cpus: availableParallelism(), node: process.versions.node, date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') },
    command: o.command,
    warnings: [...warnings],
  };
  const html = renderDemoPage(data);
  const pagePath = join(o.outDir, DEMO_LAYOUT.page);
  const broken = await brokenReferences(html, o.outDir);
  if (broken.length > 0) throw new CheckError(`demo page ${pagePath}: ${broken.length} broken link(s): ${broken.slice(0, 5).join('; ')}`);
  await writeFileAtomic(pagePath, html);
  end('page', 'page');

  const seconds = (performance.now() - t0) / 1000;
  const summary: DemoSummary = {
    schema: DEMO_SUMMARY_SCHEMA,
    version: DEMO_SUMMARY_VERSION,
    page: resolve(pagePath),
    outDir: o.outDir,
    seconds,
    loadAverage: loadavg(),
    steps: steps.map((s) => ({ name: s.name, seconds: s.seconds })),
    dataset: { dir: resolve(ds.dir), reused: ds.reused, classes: ds.counts.classes, train: ds.counts.train, test: ds.counts.test, seed: ds.seed, generatorVersion: ds.version, sameAsTraining },
    model: { path: o.model, sha256: sha },
    network: { dir: netDir, k: m.k, preset: String(opts.preset ?? o.preset), seed: m.seed, meanPartFidelity },
    accuracy: { images: pass.images, correct: pass.correct, top1: pass.accuracy, misclassified: pass.misclassified.length },
    site: site ? resolve(site.dir) : null,
    explained: pageExplanations.map((e) => ({ image: e.image, label: names[e.label], predicted: names[e.predicted], card: join(o.outDir, e.card) })),
    evaluation:
      report && evaluation.status === 'done'
        ? {
            status: 'done',
            dir: evalDir,
            images: report.dataset.evaluated,
            seed: report.seed,
            agreement: report.metrics.fidelity?.agreement ?? null,
            consistency: setFigures(report, 'consistency'),
            stability: setFigures(report, 'stability'),
            checksPassed: report.checks.passed,
          }
        : { status: evaluation.status as 'unavailable' | 'skipped' | 'failed', reason: (evaluation as { reason: string }).reason },
    sanity: sanityReport
      ? { status: 'done', dir: resolve(o.outDir, DEMO_LAYOUT.sanity), refinedScoresFell: sanityReport.refinedScoresFell, sets: sanityReport.sets }
      : { status: (sanity as { status: 'skipped' | 'failed' }).status, reason: (sanity as { reason: string }).reason },
    warnings,
  };
  await writeJsonAtomic(join(o.outDir, DEMO_LAYOUT.summary), summary);
  return { summary, page: summary.page, evaluation: report, evaluationError };
}
