/** `protolens build --model M.onnx --data DIR`: build the part-prototype network artifact. */
import { intOption, numberOption, oneOfOption, parseCommand, type CommandSpec, type OptionSpec, type Parsed } from './args.ts';
import type { Command } from './commands.ts';
import { buildNetwork, buildShard, type BuildHooks } from '../builder/build.ts';
import { shardCliOptions, shardFromArgs } from './shard-options.ts';
import { DEFAULT_CACHE_NAME, type BuildOptions } from '../builder/options.ts';
import { buildSummary, formatBuildSummary, formatShardSummary, shardSummary } from '../builder/summary.ts';
import { parseSize, type PreprocessOptions } from '../data/preprocess-config.ts';
import { preprocessCliOptions, preprocessFromArgs } from './preprocess-options.ts';
import { BuildInterrupted } from '../features/extract.ts';
import { DEFAULT_EXEMPLAR_CONTEXT_SIZE, DEFAULT_EXEMPLAR_EFFORT, DEFAULT_EXEMPLAR_FORMAT, DEFAULT_EXEMPLAR_PERCENTILE, DEFAULT_EXEMPLAR_QUALITY, DEFAULT_EXEMPLARS, EXEMPLAR_FORMATS } from '../builder/exemplars.ts';
import type { DecomposeOptions } from '../prototypes/options.ts';
import { ExitCode, UsageError } from '../util/errors.ts';
import { Progress } from '../util/progress.ts';

/** --k: a positive integer or 'auto'. */
function kOption(values: Parsed['values']): number | undefined {
  const v = values.k;
  if (typeof v === 'string' && !/^\s*\+?\d+\s*$/.test(v)) throw new UsageError(`--k: expected a positive integer or 'auto', got '${v}'`);
  return intOption(values, 'k');
}

/** Exit code of a build stopped by SIGINT (128 + 2, the shell convention). */
export const EXIT_INTERRUPTED = 130;
/** Exit code of a build stopped by SIGTERM (128 + 15). */
export const EXIT_TERMINATED = 143;

// Layout comes from the model (override with --input-layout), so the data layer's --layout is not offered.
const { layout: _layout, ...preprocessOptions } = preprocessCliOptions;

const options: Record<string, OptionSpec> = {
  model: { type: 'string', value: 'M.onnx', description: 'the ONNX classifier (global average pooling + one linear layer) (required)' },
  data: { type: 'string', value: 'DIR', description: 'training images: an ImageFolder root (DIR/<class>/<images>) or a CUB-200-2011 root (required)' },
  out: { type: 'string', value: 'NET_DIR', description: 'network folder to write (new, empty, or a previous network, replaced on success)', default: 'network' },
  format: { type: 'string', value: 'FMT', description: "dataset layout: auto, imagefolder or cub (auto: cub when images.txt and classes.txt are at the root)", default: 'auto' },
  split: { type: 'string', value: 'SPLIT', description: 'train, test or all (default: train for CUB; ImageFolder has no split: all)' },
  'class-list': { type: 'string', value: 'FILE', description: "ImageFolder: class names in the model's output order, one per line (default: sorted folder names)" },
  k: { type: 'string', value: 'K|auto', description: "prototypes per class, or 'auto': chosen per class at the elbow of the NMF error curve (up to --k-max)", default: '3' },
  'k-max': { type: 'string', value: 'N', description: '--k auto: the largest k considered', default: '10' },
  'k-min-gain': { type: 'string', value: 'X', description: "--k auto: keep a further part only if it explains this share of the energy the first part leaves", default: '0.02' },
  'k-min-ratio': { type: 'string', value: 'X', description: "--k auto: keep a further part only if it explains this fraction of what the previous part did (the elbow)", default: '0.1' },
  'max-images-per-class': { type: 'string', value: 'N', description: "use at most N images per class, evenly spaced over the class's listing (default: all)" },
  ...preprocessOptions,
  'input-layout': { type: 'string', value: 'NCHW|NHWC', description: "the model's input layout, overriding the guess (the images follow it)" },
  'logits-output': { type: 'string', value: 'NAME', description: 'graph output holding the logits, when several heads or outputs make it ambiguous' },
  'token-grid': { type: 'string', value: 'HxW', description: 'grid for N x T x D token features (default: sqrt(T) x sqrt(T) if T is a square, else 1 x T)' },
  tolerance: { type: 'string', value: 'X', description: "largest accepted relative error of the model's load-time logit check (default: 1e-4)" },
  preset: { type: 'string', value: 'NAME', description: "decomposition preset: 'default' (nnls, objective on the prototype with centred maps and the peak term, free split) or 'paper' (lstsq, objective on the residual, Nelder-Mead)", default: 'default' },
  scaling: { type: 'string', value: 'lstsq|nnls', description: 'scaling of the NMF prototypes to the head vector (default: from the preset)' },
  objective: { type: 'string', value: 'residual|prototype', description: 'what the split objective compares with the NMF maps (default: from the preset)' },
  allocator: { type: 'string', value: 'NAME', description: 'residual split: uniform, nelder-mead, gradient (channel-wise convex), free (any direction of the features) or none (default: from the preset)' },
  norm: { type: 'string', value: 'image-l2|image-centred|class-l2', description: 'heatmap normalisation in the split objective (image-centred: each image map minus its mean first) (default: from the preset: image-centred, paper image-l2)' },
  seed: { type: 'string', value: 'N', description: 'seed of every random choice of the decomposition (recorded)', default: '0' },
  'nmf-solver': { type: 'string', value: 'hals|mu', description: 'NMF solver', default: 'hals' },
  'nmf-max-iter': { type: 'string', value: 'N', description: "NMF iteration cap (default: the solver's)" },
  'nmf-tol': { type: 'string', value: 'X', description: "NMF relative-improvement tolerance (default: the solver's)" },
  'nmf-init': { type: 'string', value: 'nndsvda|random', description: 'NMF initialisation', default: 'nndsvda' },
  'nm-max-evaluations': { type: 'string', value: 'N', description: 'nelder-mead allocator: objective evaluations (default: 150 x parameters, at least 400)' },
  'nm-restarts': { type: 'string', value: 'N', description: 'nelder-mead allocator: restarts', default: '1' },
  'gradient-method': { type: 'string', value: 'spg|softmax-lbfgs', description: 'gradient allocator: optimiser', default: 'spg' },
  'gradient-max-iter': { type: 'string', value: 'N', description: 'gradient and free allocators: iterations (default: 100 for gradient, 50 for free)' },
  'gradient-tol': { type: 'string', value: 'X', description: 'gradient allocator: relative-improvement tolerance', default: '1e-6' },
  'peak-weight': { type: 'string', value: 'X', description: 'weight of the peak term of the split objective, which keeps each map\'s peak where its NMF part has it (0: off) (default: from the preset: 16, paper 0)' },
  'free-ridge': { type: 'string', value: 'X', description: 'free allocator: weight of the ridge term that keeps the shares near the uniform split\'s size', default: '0.01' },
  'free-holdout': { type: 'string', value: 'X', description: 'free allocator: share of each class\'s images held out to choose the stopping iterate (0: off)', default: '0' },
  'peak-temperature': { type: 'string', value: 'T', description: 'temperature of the peak term on unit-norm maps', default: '120' },
  'min-part-fidelity': { type: 'string', value: 'X', description: 'report a refined prototype whose heatmaps correlate with its NMF part below X (cosine, -1..1)', default: '0.5' },
  'low-fidelity': { type: 'string', value: 'ACTION', description: "for a class with such a prototype: 'report', or 'residual-term' (keep its NMF parts, the residual as an explicit term)", default: 'report' },
  threads: { type: 'string', value: 'N', description: 'worker threads for the decomposition (default: available cores)' },
  'ort-threads': { type: 'string', value: 'N', description: "onnxruntime threads for feature extraction (default: onnxruntime's, one per core)" },
  'batch-size': { type: 'string', value: 'N', description: "images per inference batch (default: the model's fixed batch, else 32)" },
  cache: { type: 'string', value: 'DIR', description: `feature cache root (default: NET_DIR/../${DEFAULT_CACHE_NAME})` },
  exemplars: { type: 'string', value: 'M', description: 'exemplar patches per prototype (0: none)', default: String(DEFAULT_EXEMPLARS) },
  'exemplar-percentile': { type: 'string', value: 'P', description: "percentile of the upsampled map that makes an exemplar's box", default: String(DEFAULT_EXEMPLAR_PERCENTILE) },
  'exemplar-format': { type: 'string', value: 'webp|jpeg|png', description: 'exemplar picture format: lossy WebP (small), lossy JPEG (faster to encode, larger) or lossless PNG', default: DEFAULT_EXEMPLAR_FORMAT },
  'exemplar-quality': { type: 'string', value: 'Q', description: 'WebP or JPEG quality of exemplar pictures (1-100)', default: String(DEFAULT_EXEMPLAR_QUALITY) },
  'exemplar-effort': { type: 'string', value: 'E', description: 'WebP effort of exemplar pictures (0-6: more effort, smaller files, slower)', default: String(DEFAULT_EXEMPLAR_EFFORT) },
  'exemplar-context-size': { type: 'string', value: 'PX', description: "longer side of an exemplar's context picture (the training image with the patch boxed), never above the input size", default: String(DEFAULT_EXEMPLAR_CONTEXT_SIZE) },
  strict: { type: 'boolean', description: 'fail on the first undecodable image instead of skipping and listing it' },
  ...shardCliOptions({
    shard: 'compute only shard I of N (classes balanced by size) into the cache and write no network',
    complete: 'assembling after shards: compute the classes the shards left missing here instead of failing',
  }),
  json: { type: 'boolean', description: 'print the build summary as JSON on stdout (layout in docs/build.md)' },
  quiet: { type: 'boolean', description: 'no progress and no summary (warnings and errors still go to stderr; --json still prints its summary)' },
};

const spec: CommandSpec = {
  name: 'build',
  summary: 'Build a part-prototype network from an ONNX classifier and its training images.',
  usage: 'protolens build --model M.onnx --data DIR [--out NET_DIR] [--k 3] [options]',
  options,
  details: [
    'Features are cached per class (keyed by the model hash and the preprocessing): an interrupted build',
    'resumes where it stopped, and a rebuild with other decomposition options (--k, --allocator, --seed, ...)',
    'skips extraction. Undecodable images are skipped, listed in the manifest and reported on stderr',
    '(--strict makes them an error).',
    '',
    'Exit codes: 0 built (also when some images were skipped: see the warning and "failures" in --json),',
    '2 usage error, 3 unusable input (model, dataset, class count, too few images, --strict failure),',
    '4 failed numerical check, 130 interrupted (SIGINT) or 143 terminated (SIGTERM; finished classes stay cached:',
    'rerun to resume).',
    '',
    'On a cluster: run the same command with --shard I/N (or --shard auto in a Slurm array or Kubernetes',
    'Indexed Job) on every node over one shared --cache, then once without --shard: it assembles the',
    'network from the cache with no extraction or decomposition (exit 3 naming the classes and shards still',
    "missing, unless --complete). 'protolens status --cache DIR' shows the shards' progress. See docs/scale.md.",
  ].join('\n'),
};

const str = (values: Parsed['values'], name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);

const positiveNumber = (values: Parsed['values'], name: string): number | undefined => numberOption(values, name, { min: 0, exclusiveMin: true });

function grid(values: Parsed['values'], name: string): [number, number] | undefined {
  const v = str(values, name);
  return v === undefined ? undefined : parseSize(v, `--${name}`);
}

/** The preprocessing options given on the command line (size and layout come from the model). */
function preprocessOptionsFrom(values: Parsed['values']): Omit<PreprocessOptions, 'size' | 'layout'> {
  // Validate every string through the data layer (the size is a placeholder: the model's is used).
  const explicitSize = str(values, 'input-size') !== undefined;
  const cfg = preprocessFromArgs(explicitSize ? values : { ...values, 'input-size': undefined }, { size: [1, 1] });
  const o: Omit<PreprocessOptions, 'size' | 'layout'> = {
    resize: cfg.resize,
    cropToBox: cfg.cropToBox,
    interpolation: cfg.interpolation,
    normalize: cfg.normalize,
    mean: cfg.mean,
    std: cfg.std,
    alpha: cfg.alpha,
    exifOrientation: cfg.exifOrientation,
    failOn: cfg.failOn,
  };
  if (str(values, 'resize-shorter') !== undefined) o.resizeShorter = cfg.resizeShorter;
  return o;
}

/** BuildOptions from parsed command-line values. */
export function buildOptionsFromArgs(values: Parsed['values']): BuildOptions {
  const model = str(values, 'model');
  const data = str(values, 'data');
  if (!model) throw new UsageError("--model M.onnx is required\nRun 'protolens build --help' for usage.");
  if (!data) throw new UsageError("--data DIR is required\nRun 'protolens build --help' for usage.");
  const decompose: Omit<DecomposeOptions, 'maxImages'> = {
    k: values.k === 'auto' ? ('auto' as const) : kOption(values),
    kMax: intOption(values, 'k-max'),
    kMinGain: numberOption(values, 'k-min-gain', { min: 0, max: 1 }),
    kMinRatio: numberOption(values, 'k-min-ratio', { min: 0, max: 1 }),
    preset: oneOfOption(values, 'preset', ['default', 'paper'] as const),
    scaling: oneOfOption(values, 'scaling', ['lstsq', 'nnls'] as const),
    objective: oneOfOption(values, 'objective', ['residual', 'prototype'] as const),
    allocator: oneOfOption(values, 'allocator', ['uniform', 'nelder-mead', 'gradient', 'free', 'none'] as const),
    norm: oneOfOption(values, 'norm', ['image-l2', 'image-centred', 'class-l2'] as const),
    seed: intOption(values, 'seed', 0),
    nmf: {
      solver: oneOfOption(values, 'nmf-solver', ['hals', 'mu'] as const),
      maxIter: intOption(values, 'nmf-max-iter'),
      tol: positiveNumber(values, 'nmf-tol'),
      init: oneOfOption(values, 'nmf-init', ['nndsvda', 'random'] as const),
    },
    nelderMead: { maxEvaluations: intOption(values, 'nm-max-evaluations'), restarts: intOption(values, 'nm-restarts', 0) },
    gradient: {
      method: oneOfOption(values, 'gradient-method', ['spg', 'softmax-lbfgs'] as const),
      maxIterations: intOption(values, 'gradient-max-iter', 0),
      tolerance: positiveNumber(values, 'gradient-tol'),
    },
    minPartFidelity: numberOption(values, 'min-part-fidelity', { min: -1, max: 1 }),
    peakWeight: numberOption(values, 'peak-weight', { min: 0 }),
    peakTemperature: positiveNumber(values, 'peak-temperature'),
    freeHoldout: numberOption(values, 'free-holdout', { min: 0, max: 0.5 }),
    freeRidge: numberOption(values, 'free-ridge', { min: 0 }),
    lowFidelity: oneOfOption(values, 'low-fidelity', ['report', 'residual-term'] as const),
  };
  const pct = str(values, 'exemplar-percentile');
  const percentile = pct === undefined ? undefined : Number(pct);
  if (percentile !== undefined && !(percentile >= 0 && percentile <= 100)) throw new UsageError(`--exemplar-percentile: expected a number in [0, 100], got '${pct}'`);
  const quality = intOption(values, 'exemplar-quality');
  if (quality !== undefined && quality > 100) throw new UsageError(`--exemplar-quality: expected an integer from 1 to 100, got '${String(values['exemplar-quality'])}'`);
  const effort = intOption(values, 'exemplar-effort', 0);
  if (effort !== undefined && effort > 6) throw new UsageError(`--exemplar-effort: expected an integer from 0 to 6, got '${String(values['exemplar-effort'])}'`);
  const inputSize = str(values, 'input-size');
  const layout = str(values, 'input-layout');
  if (layout !== undefined && !['NCHW', 'NHWC'].includes(layout.toUpperCase())) throw new UsageError(`--input-layout: expected NCHW or NHWC, got '${layout}'`);
  const split = oneOfOption(values, 'split', ['train', 'test', 'all'] as const);
  const tolText = str(values, 'tolerance');
  const tol = tolText === undefined ? undefined : Number(tolText);
  if (tol !== undefined && !(Number.isFinite(tol) && tol >= 0)) throw new UsageError(`--tolerance: expected a number >= 0, got '${tolText}'`);
  const opts: BuildOptions = {
    model,
    data,
    out: str(values, 'out') ?? 'network',
    format: oneOfOption(values, 'format', ['auto', 'imagefolder', 'cub'] as const),
    ...(split ? { split } : {}),
    ...(str(values, 'class-list') !== undefined ? { classList: str(values, 'class-list') } : {}),
    maxImagesPerClass: intOption(values, 'max-images-per-class'),
    ...(inputSize !== undefined ? { inputSize: parseSize(inputSize, '--input-size') } : {}),
    preprocess: preprocessOptionsFrom(values),
    ...(layout !== undefined ? { inputLayout: layout.toUpperCase() as 'NCHW' | 'NHWC' } : {}),
    ...(str(values, 'logits-output') !== undefined ? { logitsOutput: str(values, 'logits-output') } : {}),
    ...(grid(values, 'token-grid') ? { tokenGrid: grid(values, 'token-grid') } : {}),
    decompose,
    threads: intOption(values, 'threads'),
    ortThreads: intOption(values, 'ort-threads'),
    ...(tol !== undefined ? { headTolerance: tol } : {}),
    batchSize: intOption(values, 'batch-size'),
    ...(str(values, 'cache') !== undefined ? { cache: str(values, 'cache') } : {}),
    exemplars: intOption(values, 'exemplars', 0),
    ...(percentile !== undefined ? { exemplarPercentile: percentile } : {}),
    exemplarFormat: oneOfOption(values, 'exemplar-format', EXEMPLAR_FORMATS),
    exemplarQuality: quality,
    exemplarEffort: effort,
    exemplarContextSize: intOption(values, 'exemplar-context-size', 8),
    strict: values.strict === true,
  };
  return opts;
}


async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (the model and data are given with --model and --data)\nRun 'protolens build --help' for usage.`);
  const opts = buildOptionsFromArgs(values);
  const shard = shardFromArgs(values);
  const quiet = values.quiet === true;
  const controller = new AbortController();
  // SIGTERM is how Slurm and Kubernetes stop a job (cancel, time limit, eviction): stop the same way.
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    controller.abort(new BuildInterrupted(`interrupted (${sig}); finished classes are cached: rerun the same command to resume`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const label = { extract: 'features', decompose: 'prototypes' } as const;
  let current: { phase: 'extract' | 'decompose'; bar: Progress; finished: boolean } | null = null;
  const endBar = () => {
    if (current && !current.finished) current.bar.finish();
    current = null;
  };
  try {
    const hooks: BuildHooks = {
      onProgress: (p) => {
        if (quiet || p.total === 0) return;
        if (current?.phase !== p.phase) {
          endBar();
          current = { phase: p.phase, bar: new Progress({ label: label[p.phase], total: p.total, unit: p.unit }), finished: false };
        }
        if (current.finished) return;
        if (p.done < p.total) current.bar.update(p.done, p.className);
        else {
          current.bar.update(p.done);
          current.bar.finish();
          current.finished = true;
        }
      },
      onWarning: (m) => process.stderr.write(`${process.stderr.isTTY && current ? '\r\x1b[K' : ''}protolens build: warning: ${m}\n`),
    };
    if (shard) {
      const result = await buildShard({ ...opts, shard, signal: controller.signal }, hooks);
      endBar();
      const summary = shardSummary(result);
      if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (!quiet) process.stdout.write(formatShardSummary(summary));
      return ExitCode.ok;
    }
    const result = await buildNetwork({ ...opts, complete: values.complete === true, signal: controller.signal }, hooks);
    endBar();
    const summary = buildSummary(result);
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else if (!quiet) process.stdout.write(formatBuildSummary(summary));
    return ExitCode.ok;
  } catch (e) {
    if (e instanceof BuildInterrupted && controller.signal.aborted) {
      process.stderr.write(`\nprotolens build: ${e.message}\n`);
      return signalled === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export const buildCommand: Command = { spec, run };
