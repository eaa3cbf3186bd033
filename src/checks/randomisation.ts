/**
 * The model-randomisation sanity check (Adebayo et al., "Sanity checks for saliency maps", NeurIPS
 * 2018, applied to part prototypes): explanations must depend on what the model learned. The last
 * L convolutions before the feature tensor are redrawn (model/randomise.ts, cascading top down), a
 * network is built on that model with the original network's options (its manifest: dataset,
 * preprocessing, k, decomposition options, seed; no exemplars), and both networks are evaluated
 * with the same options. Prototypes of the randomised model should score far lower; the report
 * gives both sides per prototype set and whether every compared score fell.
 *
 *   const r = await randomisationCheck({ net: 'net/', data: 'CUB_200_2011/', out: 'sanity/' });
 *   r.sets.refined.consistency  // { original: 93.3, randomised: 57.8 }
 *
 * Cascading by default: the top convolution is redrawn, then the top two, ... down to L, each step
 * rebuilt and evaluated (`cascade: false`: L at once only).
 *
 * Writes into `out`: model-randomised.onnx, network-randomised/ (and a shared cache), evaluation-original/,
 * evaluation-randomised/ for the deepest step (-L1, -L2, ... suffixes for the shallower ones of the
 * cascade), randomisation.json, randomisation.md.
 */
import { readFile } from 'node:fs/promises';
import { hasSegmentations } from '../data/segmentation.ts';
import { dirname, join, resolve } from 'node:path';
import { buildNetwork } from '../builder/build.ts';
import type { Split } from '../data/dataset.ts';
import { evaluateNetwork, type EvaluateOptions } from '../evaluate/evaluate-network.ts';
import type { EvaluationReport, MetricName } from '../evaluate/output/report.ts';
import { InputError } from '../util/errors.ts';
import type { PrototypeSetName } from '../evaluate/context/prototype-sets.ts';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { claimOutputFolder, recordOutputEntries } from '../io/output-folder.ts';
import { randomiseTopConvolutions, type RandomisedModel } from '../model/randomise.ts';
import { loadNetwork } from '../network/artifact.ts';
import { decomposeOptionsOf, resolveOptions, type DecomposeOptions, type ResolvedOptions } from '../prototypes/options.ts';
import { packageVersion } from '../util/version.ts';

/** Convolutions redrawn by default (the top of the last block of a ResNet BasicBlock: its two convolutions). */
export const DEFAULT_RANDOMISED_LAYERS = 2;
/** Scores compared (the parts-pass metrics; purity too when asked for). */
const COMPARED = ['consistency', 'stability', 'distinctiveness', 'comprehensiveness', 'purity'] as const;
type Compared = (typeof COMPARED)[number];

export interface RandomisationOptions {
  /** The network folder (its manifest gives the model and the build's options). */
  net: string;
  /** Dataset root with parts (CUB layout): the build's training images and the evaluation's test images. */
  data: string;
  /** Output folder (claimed; see the module doc). */
  out: string;
  /** Convolutions redrawn, counted from the features down (default 2). */
  layers?: number;
  /**
   * Cascade: redraw the top 1, then 2, ... `layers` convolutions, each step built and evaluated (default
   * true); false redraws `layers` at once only.
   */
  cascade?: boolean;
  /** Seed of the redrawn weights (default 0); the evaluations use `evaluation.seed`. */
  seed?: number;
  /**
   * An evaluation of this network already made with the same evaluation options (its report and
   * folder): used as the original side instead of evaluating again. It must have run the metrics.
   */
  original?: { report: EvaluationReport; dir: string };
  /** Metrics compared (default consistency, stability, distinctiveness, and comprehensiveness when the dataset has masks). */
  metrics?: MetricName[];
  /** Evaluation options shared by both evaluations (split, maxImages, batchSize, threads, parts, ...). */
  evaluation?: Omit<EvaluateOptions, 'net' | 'data' | 'out' | 'metrics' | 'shard' | 'complete'>;
  /** Decomposition worker threads and onnxruntime threads of the rebuild. */
  threads?: number;
  onProgress?: (step: 'randomise' | 'build' | 'evaluate original' | 'evaluate randomised', note?: string) => void;
}

/** One depth of the cascade. */
export interface CascadeStep {
  /** Convolutions redrawn, counted down from the features. */
  depth: number;
  model: string;
  layers: RandomisedModel['layers'];
  sets: Partial<Record<PrototypeSetName, Partial<Record<Compared, { original: number | null; randomised: number | null }>>>>;
  refinedScoresFell: boolean;
  outputs: { network: string; randomisedEvaluation: string };
}

export interface RandomisationReport {
  schema: 'protolens.randomisation-check';
  version: 1;
  generator: { name: 'protolens'; version: string };
  network: string;
  model: { original: string; randomised: string; seed: number; layers: RandomisedModel['layers'] };
  metrics: Compared[];
  /** Per prototype set and score: the original network's and the randomised one's (null: not computed). */
  sets: Partial<Record<PrototypeSetName, Partial<Record<Compared, { original: number | null; randomised: number | null }>>>>;
  /** Every compared score of the refined prototypes fell (at the deepest randomisation). */
  refinedScoresFell: boolean;
  /**
   * Each randomisation depth (1, 2, ... layers convolutions, cascading; only `layers` without the
   * cascade): its layers, scores and outputs. The top-level `model`, `sets`, `refinedScoresFell` and
   * `outputs` are the deepest step's.
   */
  cascade: CascadeStep[];
  outputs: { network: string; originalEvaluation: string; randomisedEvaluation: string };
  seconds: number;
}

const stripNulls = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, stripNulls(x)]));
  return v;
};

/**
 * The decomposition options of a rebuild from a manifest's recorded (resolved) options: k 'auto'
 * stays 'auto' with its kMax, every field comes back (decomposeOptionsOf); the build caps images
 * itself, so maxImages is left out.
 */
function rebuildDecomposeOptions(recorded: Record<string, unknown>, seed: unknown): Omit<DecomposeOptions, 'maxImages'> {
  const { maxImages: _m, ...o } = decomposeOptionsOf(resolvedOf(recorded));
  return { ...o, seed: typeof seed === 'number' ? seed : 0 };
}

/** A manifest's recorded options as ResolvedOptions (manifests written before a field existed get its default). */
function resolvedOf(recorded: Record<string, unknown>): ResolvedOptions {
  const defaults = resolveOptions({ preset: recorded.preset === 'paper' ? 'paper' : 'default' });
  return { ...defaults, ...(recorded as Partial<ResolvedOptions>) };
}

/** Run the check (see the module doc). */
export async function randomisationCheck(opts: RandomisationOptions): Promise<RandomisationReport> {
  const t0 = performance.now();
  const layers = opts.layers ?? DEFAULT_RANDOMISED_LAYERS;
  const seed = opts.seed ?? 0;
  // Cascading (Adebayo et al.): the top convolution, then the top two, ... down to `layers`; each
  // layer keeps its own draw from step to step (one seeded stream per layer).
  const depths = opts.cascade === false ? [layers] : Array.from({ length: layers }, (_, j) => j + 1);
  const suffix = (depth: number) => (depth === layers ? '' : `-L${depth}`);
  const out = await claimOutputFolder(opts.out, 'evaluation');
  const net = await loadNetwork(opts.net);
  const m = net.manifest;
  const modelPath = resolve(net.dir, m.model.path);
  await recordOutputEntries(out, [
    ...depths.flatMap((d) => [`model-randomised${suffix(d)}.onnx`, `network-randomised${suffix(d)}`, `evaluation-randomised${suffix(d)}`]),
    'cache',
    ...(opts.original ? [] : ['evaluation-original']),
    'randomisation.json',
    'randomisation.md',
  ]);
  const modelBytes = await readFile(modelPath);

  // The build's options, as the manifest records them.
  const options = (m.options ?? {}) as Record<string, unknown> & { build?: Record<string, unknown> };
  const { build: buildRecord = {}, maxImages: _m, ...decompose } = options;
  const b = stripNulls(buildRecord) as Record<string, unknown>;
  const { size: _s, layout: _l, ...preprocess } = m.preprocess as unknown as Record<string, unknown>;
  const dataset = m.dataset as { root: string; format: 'cub' | 'imagefolder'; split: Split | null; maxImagesPerClass: number | null };

  const evalOpts = { ...opts.evaluation };
  const requested = opts.metrics ?? defaultMetrics(await hasSegmentations(opts.data));
  let original: EvaluationReport;
  let originalDir: string;
  if (opts.original) {
    // An evaluation of this network already made (the demo's): its scores are the original side.
    original = opts.original.report;
    originalDir = opts.original.dir;
    const missing = requested.filter((x) => !original.metricsRun.includes(x));
    if (resolve(original.network.dir) !== resolve(opts.net)) throw new InputError(`sanity check: the given evaluation ${originalDir} is of network ${original.network.dir}, not ${resolve(opts.net)}`);
    if (missing.length > 0) throw new InputError(`sanity check: the given evaluation ${originalDir} did not run ${missing.join(', ')}`);
  } else {
    opts.onProgress?.('evaluate original');
    originalDir = join(out, 'evaluation-original');
    original = await evaluateNetwork({ ...evalOpts, net: opts.net, data: opts.data, out: originalDir, metrics: requested });
  }
  const metricsRun = requested.filter((x) => original.metricsRun.includes(x));
  const compared = COMPARED.filter((c) => metricsRun.includes(c));
  const scoreOf = (r: typeof original, set: PrototypeSetName, what: Compared): number | null => {
    const p = r.metrics.parts?.sets[set];
    if (what === 'consistency') return p?.consistency.score ?? null;
    if (what === 'stability') return p?.stability?.score ?? null;
    if (what === 'distinctiveness') return p?.distinctiveness?.score ?? null;
    if (what === 'comprehensiveness') return p?.comprehensiveness?.score ?? null;
    return r.metrics.purity?.sets[set]?.mean ?? null;
  };

  const cascade: CascadeStep[] = [];
  for (const depth of depths) {
    opts.onProgress?.('randomise', `${depth} convolution(s) before '${m.model.featureTensor}'`);
    const randomised = randomiseTopConvolutions(modelBytes, dirname(modelPath), m.model.featureTensor, depth, seed);
    const randomModel = join(out, `model-randomised${suffix(depth)}.onnx`);
    await writeFileAtomic(randomModel, randomised.bytes);
    const networkOut = join(out, `network-randomised${suffix(depth)}`);
    opts.onProgress?.('build', networkOut);
    await buildNetwork({
      model: randomModel,
      data: opts.data,
      out: networkOut,
      cache: join(out, 'cache'),
      format: dataset.format,
      ...(dataset.split ? { split: dataset.split } : {}),
      ...(dataset.maxImagesPerClass !== null ? { maxImagesPerClass: dataset.maxImagesPerClass } : {}),
      ...(b.inputSize !== undefined ? { inputSize: b.inputSize as number | [number, number] } : {}),
      ...(b.inputLayout !== undefined ? { inputLayout: b.inputLayout as never } : {}),
      ...(b.logitsOutput !== undefined ? { logitsOutput: b.logitsOutput as string } : { logitsOutput: m.model.logitsOutput }),
      ...(b.tokenGrid !== undefined ? { tokenGrid: b.tokenGrid as [number, number] } : {}),
      preprocess: preprocess as never,
      decompose: rebuildDecomposeOptions(decompose, m.seed),
      exemplars: 0,
      ...(opts.threads !== undefined ? { threads: opts.threads, ortThreads: opts.threads } : {}),
    });
    opts.onProgress?.('evaluate randomised', `${depth} convolution(s)`);
    const evaluation = join(out, `evaluation-randomised${suffix(depth)}`);
    const random = await evaluateNetwork({ ...evalOpts, net: networkOut, data: opts.data, out: evaluation, metrics: metricsRun });
    const sets: RandomisationReport['sets'] = {};
    for (const set of original.prototypeSets as PrototypeSetName[]) {
      sets[set] = Object.fromEntries(compared.map((c) => [c, { original: scoreOf(original, set, c), randomised: scoreOf(random, set, c) }]));
    }
    const refined = Object.values(sets.refined ?? {});
    cascade.push({
      depth,
      model: randomModel,
      layers: randomised.layers,
      sets,
      refinedScoresFell: refined.length > 0 && refined.every((v) => v.original !== null && v.randomised !== null && v.randomised < v.original),
      outputs: { network: networkOut, randomisedEvaluation: evaluation },
    });
  }
  const deepest = cascade[cascade.length - 1];
  const report: RandomisationReport = {
    schema: 'protolens.randomisation-check',
    version: 1,
    generator: { name: 'protolens', version: packageVersion() },
    network: resolve(opts.net),
    model: { original: modelPath, randomised: deepest.model, seed, layers: deepest.layers },
    metrics: compared,
    sets: deepest.sets,
    refinedScoresFell: deepest.refinedScoresFell,
    cascade,
    outputs: { network: deepest.outputs.network, originalEvaluation: originalDir, randomisedEvaluation: deepest.outputs.randomisedEvaluation },
    seconds: (performance.now() - t0) / 1000,
  };
  await writeJsonAtomic(join(out, 'randomisation.json'), report);
  await writeFileAtomic(join(out, 'randomisation.md'), formatRandomisation(report));
  return report;
}

const defaultMetrics = (masks: boolean): MetricName[] => ['consistency', 'stability', 'distinctiveness', ...(masks ? (['comprehensiveness'] as const) : [])];

const fmt = (v: number | null, what: string) => (v === null ? 'n/a' : v.toFixed(what === 'purity' ? 3 : 1));

/** The report as markdown: one table per prototype set, and the cascade. */
export function formatRandomisation(r: RandomisationReport): string {
  const L = [
    '# Model randomisation sanity check',
    '',
    `The last ${r.model.layers.length} convolution(s) before the features (${r.model.layers.map((l) => l.node).join(', ')}) redrawn from N(0, s^2) with each layer's own spread (seed ${r.model.seed}); a network built on that model with the original options; both evaluated alike.`,
    '',
  ];
  for (const [set, scores] of Object.entries(r.sets)) {
    L.push(`## ${set}`, '', '| score | original | randomised |', '| --- | --- | --- |');
    for (const [what, s] of Object.entries(scores ?? {})) L.push(`| ${what} | ${fmt(s?.original ?? null, what)} | ${fmt(s?.randomised ?? null, what)} |`);
    L.push('');
  }
  if ((r.cascade ?? []).length > 1) {
    L.push('## cascade: refined prototypes', '', `| convolutions redrawn | ${r.metrics.join(' | ')} |`, `| --- | ${r.metrics.map(() => '---').join(' | ')} |`);
    const first = r.cascade[0].sets.refined ?? {};
    L.push(`| 0 (trained model) | ${r.metrics.map((w) => fmt(first[w]?.original ?? null, w)).join(' | ')} |`);
    for (const step of r.cascade) L.push(`| ${step.depth} (${step.layers.map((l) => l.node).join(', ')}) | ${r.metrics.map((w) => fmt(step.sets.refined?.[w]?.randomised ?? null, w)).join(' | ')} |`);
    L.push('');
  }
  L.push(r.refinedScoresFell ? 'Every compared score of the refined prototypes fell: the explanations depend on the model.' : '**Not every score of the refined prototypes fell**: look at the table.', '');
  return L.join('\n');
}

