/**
 * The demo's command line (`npm run demo`, scripts/demo.ts): parses options, shows progress on
 * stderr, prints the summary (text, or JSON with --json) on stdout. Exit codes as every protolens
 * command: 0 ok, 1 internal error, 2 usage, 3 unusable input, 4 a failed check.
 */
import { helpText, intOption, parseCommand, type CommandSpec } from './args.ts';
import { ExitCode, ProtolensError, UsageError } from '../util/errors.ts';
import { Progress } from '../util/progress.ts';
import { DEFAULT_DEMO_CACHE, DEFAULT_DEMO_K, DEFAULT_DEMO_OUT, DEFAULT_DEMO_SEED, DEFAULT_EXPLAINED_CLASSES, DEFAULT_DEMO_EXEMPLARS, type DemoOptions } from '../demo/options.ts';
import { runDemo, type DemoHooks } from '../demo/run-demo.ts';
import { formatDemoSummary } from '../demo/summary.ts';

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'The whole method on the bundled parts dataset: dataset, prototype network, explanations, evaluation, one HTML page.',
  usage: 'npm run demo -- [--out DIR] [--json] [options]',
  options: {
    out: { type: 'string', value: 'DIR', description: 'output folder: index.html and everything it shows', default: DEFAULT_DEMO_OUT },
    cache: { type: 'string', value: 'DIR', description: 'cache folder: the generated dataset and the feature cache (safe to delete)', default: DEFAULT_DEMO_CACHE },
    model: { type: 'string', value: 'M.onnx', description: 'the model to explain; its training record is the .json beside it', default: 'models/demo-cnn.onnx' },
    k: { type: 'string', value: 'K', description: 'prototypes per class', default: String(DEFAULT_DEMO_K) },
    preset: { type: 'string', value: 'NAME', description: "decomposition preset: 'default' or 'paper'", default: 'default' },
    seed: { type: 'string', value: 'N', description: 'seed of the decomposition and the evaluation', default: String(DEFAULT_DEMO_SEED) },
    'explain-classes': { type: 'string', value: 'N', description: 'explain the first test image of this many classes (plus one misclassified image)', default: String(DEFAULT_EXPLAINED_CLASSES) },
    exemplars: { type: 'string', value: 'M', description: 'exemplar patches per prototype', default: String(DEFAULT_DEMO_EXEMPLARS) },
    'no-evaluate': { type: 'boolean', description: 'skip the evaluation (fidelity, consistency, stability, distinctiveness, comprehensiveness, purity, deletion/insertion, axioms)' },
    'no-sanity': { type: 'boolean', description: 'skip the model-randomisation sanity check (a network rebuilt on the model with its last two convolutions redrawn, evaluated alike)' },
    'deletion-images': { type: 'string', value: 'N', description: 'test images scored by deletion/insertion (default: the evaluation\'s, 50)' },
    'train-per-class': { type: 'string', value: 'N', description: 'a smaller dataset for a quick look: training images per class (the model was trained on 100; other numbers than documented)' },
    'test-per-class': { type: 'string', value: 'N', description: 'the same for test images per class (the model was tested on 50)' },
    json: { type: 'boolean', description: 'print the summary as JSON on stdout' },
    quiet: { type: 'boolean', description: 'no progress on stderr' },
  },
  details: [
    'Writes DIR/index.html (open it in a browser), DIR/summary.json, DIR/network/ (the prototype network),',
    'DIR/explanations/ (one card per explained image), DIR/evaluation/ (results.md, plots, JSON) and DIR/sanity/',
    '(the model-randomisation check: randomisation.md and .json, the rebuilt network and both evaluations).',
    'The first run generates the dataset and extracts features (cached in --cache); later runs reuse both.',
    '',
    'Exit codes: 0 ok, 1 internal error, 2 usage error, 3 unusable input, 4 a failed check.',
  ].join('\n'),
};

/** Options of runDemo from parsed command-line values. */
export function demoOptionsFromArgs(values: Record<string, string | boolean | string[] | undefined>): DemoOptions {
  const preset = values.preset as string;
  if (preset !== 'default' && preset !== 'paper') throw new UsageError(`--preset: expected 'default' or 'paper', got '${preset}'`);
  return {
    outDir: values.out as string,
    cacheDir: values.cache as string,
    ...(values.model !== 'models/demo-cnn.onnx' ? { model: values.model as string } : {}),
    k: intOption(values, 'k'),
    preset,
    seed: intOption(values, 'seed', 0),
    explainClasses: intOption(values, 'explain-classes', 0),
    exemplars: intOption(values, 'exemplars'),
    evaluate: values['no-evaluate'] !== true,
    sanity: values['no-sanity'] !== true,
    deletionImages: intOption(values, 'deletion-images'),
    dataset: {
      ...(values['train-per-class'] !== undefined ? { trainPerClass: intOption(values, 'train-per-class') } : {}),
      ...(values['test-per-class'] !== undefined ? { testPerClass: intOption(values, 'test-per-class') } : {}),
    },
  };
}

/**
 * Progress on stderr: a header line per step, a bar (or plain lines) per task. Tasks of one step can
 * run at once (the evaluation's image pass and its deletion curves): each keeps its own counter.
 */
function progressHooks(quiet: boolean): DemoHooks & { close(): void } {
  const err = process.stderr;
  const bars = new Map<string, { progress: Progress; finished: boolean }>();
  let drawn = false;
  const close = () => {
    for (const b of bars.values()) if (!b.finished) b.progress.finish();
    bars.clear();
    drawn = false;
  };
  if (quiet) return { onWarning: (m) => err.write(`protolens demo: warning: ${m}\n`), close };
  return {
    onStep(step, index, total, description) {
      close();
      err.write(`protolens demo [${index}/${total}] ${step}: ${description}\n`);
    },
    onProgress(p) {
      if (p.total === 0) return;
      const key = `${p.step}/${p.task}`;
      let bar = bars.get(key);
      if (!bar) {
        // The counter starts at the first report; drawing it then would show a meaningless rate.
        bar = { progress: new Progress({ label: `  ${p.task}`, total: p.total, unit: p.unit }), finished: false };
        bars.set(key, bar);
        if (p.done < p.total) return;
      }
      if (bar.finished) return;
      drawn = true;
      bar.progress.update(p.done, p.note ?? '');
      if (p.done >= p.total) {
        bar.progress.finish();
        bar.finished = true;
        drawn = false;
      }
    },
    onStepDone(step, seconds) {
      close();
      err.write(`  ${step} done in ${seconds.toFixed(1)} s\n`);
    },
    onWarning(m) {
      err.write(`${err.isTTY && drawn ? '\r\x1b[K' : ''}protolens demo: warning: ${m}\n`);
    },
    close,
  };
}

/** Run the demo from command-line arguments; returns the exit code. Errors are reported on stderr. */
export async function runDemoCli(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseCommand(demoSpec, argv);
    if (values.help) {
      process.stdout.write(helpText(demoSpec));
      return ExitCode.ok;
    }
    if (positionals.length > 0) throw new UsageError(`demo: unexpected argument '${positionals[0]}'\nRun 'npm run demo -- --help' for usage.`);
    const options = { ...demoOptionsFromArgs(values), command: ['npm run demo', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ') };
    const hooks = progressHooks(values.quiet === true);
    let result;
    try {
      result = await runDemo(options, hooks);
    } finally {
      hooks.close();
    }
    if (values.json) process.stdout.write(`${JSON.stringify(result.summary, null, 2)}\n`);
    else process.stdout.write(formatDemoSummary(result.summary));
    if (result.evaluationError) throw result.evaluationError;
    const e = result.summary.evaluation;
    if (e.status === 'done' && !e.checksPassed) {
      process.stderr.write('protolens demo: a guarantee failed in the evaluation (fidelity or an axiom); see evaluation/results.md\n');
      return ExitCode.check;
    }
    return ExitCode.ok;
  } catch (e) {
    if (e instanceof ProtolensError) {
      process.stderr.write(`protolens demo: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`protolens demo: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return ExitCode.internal;
  }
}
