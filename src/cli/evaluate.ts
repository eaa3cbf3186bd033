/** `protolens evaluate --net NET_DIR --data DIR`: fidelity, consistency, stability, deletion/insertion and axioms (library: src/evaluate/evaluate-network.ts). */
import { intOption, listOption, numberOption, oneOfOption, parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { DEFAULT_AXIOM_IMAGES } from '../evaluate/metrics/axioms.ts';
import { DEFAULT_DELETION_BATCH, DEFAULT_DELETION_IMAGES } from '../evaluate/metrics/deletion.ts';
import type { Substrate } from '../evaluate/protocols/deletion-curves.ts';
import { STABILITY_VARIANTS } from '../evaluate/protocols/parts.ts';
import { DEFAULT_EVALUATION_BATCH, evaluateNetwork, evaluateShard, type EvaluateOptions, type EvaluateProgress } from '../evaluate/evaluate-network.ts';
import { shardCliOptions, shardFromArgs } from './shard-options.ts';
import { DEFAULT_FIDELITY_TOLERANCE } from '../evaluate/metrics/fidelity.ts';
import { METRIC_NAMES, type MetricName } from '../evaluate/output/report.ts';
import { formatResultsMarkdown } from '../evaluate/output/results-markdown.ts';
import { PROTOTYPE_SET_NAMES, type PrototypeSetName } from '../evaluate/context/prototype-sets.ts';
import type { DatasetFormat, Split } from '../data/dataset.ts';
import { Progress } from '../util/progress.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'evaluate',
  summary: 'Evaluate a prototype network on a test set: fidelity, consistency, stability, distinctiveness, comprehensiveness, purity, deletion/insertion, axioms.',
  usage: 'protolens evaluate --net NET_DIR --data DIR [--metrics LIST] [--out DIR] [--json] [options]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required)" },
    data: { type: 'string', value: 'DIR', description: 'dataset root: CUB-200-2011 layout (needed for consistency and stability) or ImageFolder (required)' },
    format: { type: 'string', value: 'cub|imagefolder|auto', description: 'dataset layout', default: 'auto' },
    split: { type: 'string', value: 'train|test|all', description: "split (default: 'test' for CUB, 'all' for ImageFolder)" },
    'class-list': { type: 'string', value: 'FILE', description: "ImageFolder: class names in the model's output order, one per line" },
    metrics: { type: 'string', value: 'LIST', description: `comma-separated, from ${METRIC_NAMES.join(',')} (default: all but purity, which scans the training split; the parts metrics only when the dataset has parts, comprehensiveness only with segmentations/)` },
    out: { type: 'string', value: 'DIR', description: 'write evaluation.json, results.md, deletion.png, consistency.png, maps.safetensors and maps.json here' },
    json: { type: 'boolean', description: "print the report as JSON (schema 'protolens.evaluation', version 1) instead of tables" },
    seed: { type: 'string', value: 'S', description: 'seed of the stability noise, random orders, random split and linearity weights', default: '0' },
    'max-images': { type: 'string', value: 'N', description: 'evaluate at most N images, evenly spaced over the split (default: all)' },
    batch: { type: 'string', value: 'N', description: "images per model call (a model's fixed batch size wins)", default: String(DEFAULT_EVALUATION_BATCH) },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads (default: one per physical core)' },
    model: { type: 'string', value: 'PATH', description: 'model file instead of the one recorded in the network (it must have the recorded SHA-256)' },
    sets: { type: 'string', value: 'LIST', description: 'prototype sets compared by consistency and stability', default: PROTOTYPE_SET_NAMES.join(',') },
    variant: { type: 'string', value: 'strict|uncropped', description: "parts protocol: 'strict' crops to the box (the published protocol); 'uncropped' stretches whole images", default: 'strict' },
    'half-size': { type: 'string', value: 'N', description: 'region half size in input pixels (default: round(36 * min(H, W) / 224), 36 at 224)' },
    'part-threshold': { type: 'string', value: 'X', description: 'a prototype is consistent when some part is hit on this fraction of its images', default: '0.8' },
    'stability-variant': { type: 'string', value: 'NAME', description: "'evalprotopnet': unclipped noise, signed sum of part hits (the published numbers); 'protopnext': noise clipped to 0.25, equal part vectors", default: 'evalprotopnet' },
    'deletion-images': { type: 'string', value: 'N', description: 'images scored by deletion/insertion, evenly spaced', default: String(DEFAULT_DELETION_IMAGES) },
    substrate: { type: 'string', value: 'blur|mean|zero', description: 'substrate of both deletion and insertion (default: deletion zero, insertion blur, as RISE)' },
    'pixels-per-step': { type: 'string', value: 'N', description: 'pixels moved per deletion/insertion step (default: 2% of the pixels)' },
    'deletion-batch': { type: 'string', value: 'N', description: 'perturbed images per model call', default: String(DEFAULT_DELETION_BATCH) },
    'axiom-images': { type: 'string', value: 'N', description: 'images for linearity, sensitivity and symmetry (completeness: every image)', default: String(DEFAULT_AXIOM_IMAGES) },
    tolerance: { type: 'string', value: 'X', description: 'relative tolerance of the fidelity logits and of the axioms', default: String(DEFAULT_FIDELITY_TOLERANCE) },
    ...shardCliOptions({
      shard: 'score only shard I of N (consecutive ranges of the images) and write its partial results to --out/shards-N/I.safetensors, no report',
      complete: 'merging shards: compute the shards still missing here instead of failing',
    }),
  },
  details: [
    'One decode and one model run per image serve every metric (two passes when the network\'s preprocessing is',
    'not the parts protocol\'s crop + stretch); consistency and stability score the refined, initial (NMF) and a',
    'random convex split of each head row side by side. Without --json the tables of results.md are printed.',
    '',
    'Exit codes: 0 every guarantee holds, 2 usage error, 3 unusable input (no network, a model with another',
    'SHA-256, a dataset without parts for consistency), 4 a guarantee failed: the prototype network does not',
    'predict what the model predicts on every image, its logits differ beyond the tolerance, or an axiom fails',
    '(the report and --out files are still written), 5 every guarantee holds but some images could not be decoded.',
    '',
    'On a cluster: run the same command with --shard I/N (or --shard auto in a Slurm array or Kubernetes Indexed',
    'Job) and one shared --out, then once without --shard: it merges the shards\' partial results into the report',
    'a single run writes (same numbers; exit 3 naming the shards still missing, unless --complete). See docs/scale.md.',
  ].join('\n'),
};

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\nRun 'protolens evaluate --help' for usage.`);
  if (typeof values.net !== 'string') throw new UsageError("--net NET_DIR is required\nRun 'protolens evaluate --help' for usage.");
  if (typeof values.data !== 'string') throw new UsageError("--data DIR is required\nRun 'protolens evaluate --help' for usage.");
  const substrate = oneOfOption<Substrate>(values, 'substrate', ['blur', 'mean', 'zero']);
  const tolerance = numberOption(values, 'tolerance', { min: 0, max: 1 })!;
  const json = values.json === true;
  const shard = shardFromArgs(values);
  if (shard && typeof values.out !== 'string') throw new UsageError("--shard needs --out DIR: the shards write their partial results there and the final run merges them\nRun 'protolens evaluate --help' for usage.");
  const progress = new Map<string, Progress>();
  const finished = new Set<string>();
  const onProgress = (p: EvaluateProgress) => {
    let bar = progress.get(p.task);
    if (!bar) {
      bar = new Progress({ label: p.task === 'deletion' ? 'deletion/insertion' : `evaluate (${p.task} pass)`, total: p.total, unit: 'images' });
      progress.set(p.task, bar);
    }
    if (finished.has(p.task)) return;
    bar.update(p.done);
    if (p.done >= p.total) {
      bar.finish();
      finished.add(p.task);
    }
  };
  const options: EvaluateOptions = {
    net: values.net,
    data: values.data,
    format: oneOfOption<DatasetFormat | 'auto'>(values, 'format', ['cub', 'imagefolder', 'auto']),
    split: oneOfOption<Split>(values, 'split', ['train', 'test', 'all']),
    ...(typeof values['class-list'] === 'string' ? { classList: values['class-list'] } : {}),
    metrics: listOption<MetricName>(values, 'metrics', METRIC_NAMES),
    seed: intOption(values, 'seed', 0),
    maxImages: intOption(values, 'max-images'),
    batchSize: intOption(values, 'batch'),
    threads: intOption(values, 'threads'),
    ...(typeof values.model === 'string' ? { model: values.model } : {}),
    ...(typeof values.out === 'string' ? { out: values.out } : {}),
    sets: listOption<PrototypeSetName>(values, 'sets', PROTOTYPE_SET_NAMES),
    parts: {
      variant: oneOfOption(values, 'variant', ['strict', 'uncropped'] as const),
      halfSize: intOption(values, 'half-size', 1),
      partThreshold: numberOption(values, 'part-threshold', { min: 0, max: 1 }),
      stabilityVariant: oneOfOption(values, 'stability-variant', STABILITY_VARIANTS),
    },
    deletion: {
      images: intOption(values, 'deletion-images'),
      pixelsPerStep: intOption(values, 'pixels-per-step'),
      batchSize: intOption(values, 'deletion-batch'),
      ...(substrate ? { deletionSubstrate: substrate, insertionSubstrate: substrate } : {}),
    },
    axioms: { images: intOption(values, 'axiom-images', 1), tolerance },
    fidelity: { tolerance },
    onProgress,
    complete: values.complete === true,
  };
  if (shard) {
    const summary = await evaluateShard({ ...options, shard, out: values.out as string });
    for (const [task, bar] of progress) if (!finished.has(task)) bar.finish();
    if (json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`shard ${shard.index}/${shard.count}: images ${summary.range[0]}..${summary.range[1] - 1} scored (${summary.images} decoded) in ${summary.seconds.toFixed(1)} s -> ${summary.file}\n`);
    for (const f of summary.failures.slice(0, 20)) process.stderr.write(`protolens evaluate: image left out: ${f.path}: ${f.reason}\n`);
    return summary.failures.length > 0 ? ExitCode.partial : ExitCode.ok;
  }
  const report = await evaluateNetwork(options);
  for (const [task, bar] of progress) if (!finished.has(task)) bar.finish();
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatResultsMarkdown(report));
  if (!json && report.outputs) process.stdout.write(`\nwritten to ${report.outputs.dir}\n`);
  for (const w of report.warnings) process.stderr.write(`protolens evaluate: warning: ${w}\n`);
  if (!report.checks.passed) {
    for (const f of report.checks.failures) process.stderr.write(`protolens evaluate: check failed: ${f}\n`);
    return ExitCode.check;
  }
  const failed = report.dataset.failures;
  for (const f of failed.slice(0, 20)) process.stderr.write(`protolens evaluate: image left out: ${f.path}: ${f.reason}\n`);
  if (failed.length > 20) process.stderr.write(`protolens evaluate: ... and ${failed.length - 20} more (dataset.failures in the report)\n`);
  return failed.length > 0 ? ExitCode.partial : ExitCode.ok;
}

export const evaluateCommand: Command = { spec, run };
