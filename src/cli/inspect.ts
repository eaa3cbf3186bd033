/** `protolens inspect MODEL`: load a classifier, show its GAP + linear head and the logit check. */
import { intOption, numberOption, parseCommand, type CommandSpec, type Parsed } from './args.ts';
import type { Command } from './commands.ts';
import { HEAD_CHECK_BATCH, HEAD_CHECK_SEED, MAX_HEAD_CHECK_BATCH, loadClassifier, type LoadClassifierOptions } from '../model/classifier.ts';
import { HEAD_CHECK_TOLERANCE } from '../model/logit-check.ts';
import { summarizeClassifier, type ClassifierSummary } from '../model/summary.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'inspect',
  summary: 'Find the GAP + linear head of an ONNX classifier, show it and check it reproduces the logits.',
  usage: 'protolens inspect MODEL [--input-size S|HxW] [--json]',
  options: {
    'input-size': { type: 'string', value: 'S|HxW', description: 'run size, for models with a dynamic input size; must equal a fixed size (default: the fixed size, else 224)' },
    'logits-output': { type: 'string', value: 'NAME', description: 'graph output holding the logits, when several heads or outputs make it ambiguous' },
    'input-layout': { type: 'string', value: 'NCHW|NHWC', description: 'input layout, overriding the guess from the input shape' },
    'token-grid': { type: 'string', value: 'HxW', description: 'grid for N x T x D token features (default: sqrt(T) x sqrt(T) if T is a square, else 1 x T)' },
    'check-batch': { type: 'string', value: 'N', description: 'random images in the logit check', default: String(HEAD_CHECK_BATCH) },
    seed: { type: 'string', value: 'N', description: 'seed of the check input', default: String(HEAD_CHECK_SEED) },
    tolerance: { type: 'string', value: 'X', description: 'largest accepted relative error max|diff| / max(max|W·GAP(x)|, 1% of max|logit|)', default: String(HEAD_CHECK_TOLERANCE) },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads (default: one per physical core)' },
    json: { type: 'boolean', description: 'print the summary object as JSON (layout in docs/model.md)' },
  },
  details: [
    'The check runs the model on --check-batch random normal inputs and compares W * GAP(features) + b with',
    "the model's logits; a relative error above --tolerance fails.",
    '',
    'Exit codes: 0 head found and check passed, 2 usage error, 3 unusable model (not ONNX, no GAP + linear',
    'head, several heads, a size the model cannot take, missing external data), 4 logit check failed.',
  ].join('\n'),
};

/** "224" -> 224, "224x192" or "224,192" -> [224, 192]. */
export function parseSize(text: string, option: string): number | [number, number] {
  const raw = text.trim().split(/[x,]/i).map((s) => s.trim());
  const parts = raw.map(Number);
  if ((parts.length === 1 || parts.length === 2) && raw.every((r) => /^\d+$/.test(r)) && parts.every((v) => v > 0 && v <= 65535)) return parts.length === 1 ? parts[0] : [parts[0], parts[1]];
  throw new UsageError(`--${option}: expected a positive integer S or HxW, got '${text}'`);
}

function optionsFrom(values: Parsed['values']): LoadClassifierOptions {
  const opts: LoadClassifierOptions = {};
  if (typeof values['input-size'] === 'string') opts.inputSize = parseSize(values['input-size'], 'input-size');
  if (typeof values['logits-output'] === 'string') opts.logitsOutput = values['logits-output'];
  const layout = values['input-layout'];
  if (typeof layout === 'string') {
    const up = layout.toUpperCase();
    if (up !== 'NCHW' && up !== 'NHWC') throw new UsageError(`--input-layout: expected NCHW or NHWC, got '${layout}'`);
    opts.inputLayout = up;
  }
  if (typeof values['token-grid'] === 'string') {
    const g = parseSize(values['token-grid'], 'token-grid');
    opts.tokenGrid = typeof g === 'number' ? [g, g] : g;
  }
  opts.checkBatch = intOption(values, 'check-batch');
  if (opts.checkBatch !== undefined && opts.checkBatch > MAX_HEAD_CHECK_BATCH) throw new UsageError(`--check-batch: expected an integer from 1 to ${MAX_HEAD_CHECK_BATCH}, got ${opts.checkBatch}`);
  opts.seed = intOption(values, 'seed', 0);
  opts.intraOpThreads = intOption(values, 'threads');
  opts.tolerance = numberOption(values, 'tolerance', { min: 0 });
  return opts;
}

/** The human-readable report. */
export function formatSummary(s: ClassifierSummary): string {
  const h = s.head;
  const lin = h.linear;
  const linDetail =
    lin.op === 'Gemm'
      ? `transB ${lin.transB}, alpha ${lin.alpha}, beta ${lin.beta}, ${lin.bias ? `C '${lin.bias}'` : 'no C'}`
      : lin.op === 'MatMul'
        ? lin.biasNode ? `+ Add '${lin.biasNode}' (bias '${lin.bias}')` : 'no bias'
        : `1 x 1 kernel, ${lin.bias ? `bias '${lin.bias}'` : 'no bias'}`;
  const p = h.pooling;
  const poolDetail = p.op === 'GlobalAveragePool' ? '' : p.op === 'AveragePool' ? ` (kernel ${p.kernel?.join(' x ')})` : ` (axes [${p.axes.join(', ')}] from ${p.axesSource}, keepdims ${p.keepdims ? 1 : 0})`;
  const f = s.features;
  const grid = f.tokenGrid ? `; ${f.tokenGrid.tokens} tokens shown as ${f.tokenGrid.H} x ${f.tokenGrid.W} (${f.tokenGrid.rule === 'square' ? 'T is a perfect square' : f.tokenGrid.rule === 'row' ? 'T is not a perfect square: one row' : 'from --token-grid'})` : '';
  const inp = s.input;
  const c = s.check;
  const rows: [string, string][] = [
    ['model', s.model.path],
    ['sha256', s.model.sha256],
    ['input', `'${inp.name}' [${inp.shape.map((d) => d ?? '?').join(', ')}] ${inp.layout}, run at ${inp.height} x ${inp.width} (${inp.sizeSource === 'model' ? 'fixed by the model' : inp.sizeSource === 'option' ? '--input-size' : 'default for dynamic size'}), batch ${s.maxBatch === null ? 'dynamic' : `fixed ${s.maxBatch}`}`],
    ['pooling', `${p.op} '${p.node}'${poolDetail} over '${p.input}'`],
    ['linear', `${lin.op} '${lin.node}' (${linDetail}), weight '${lin.weight}' [${lin.weightShape.join(', ')}]`],
    ['head path', h.path.join(' -> ')],
    ['folded ops', h.foldedOps.length ? h.foldedOps.map((o) => `${o.op} '${o.node}' (${o.broadcast}, ${o.where})`).join(', ') : 'none'],
    ['W, b', `${h.numClasses} x ${h.featureDim}, |W| = ${h.weightNorm.toPrecision(4)}, b in [${h.biasRange.map((v) => v.toPrecision(4)).join(', ')}]`],
    ['logits', `'${s.logits.tensor}' (${s.logits.isGraphOutput ? 'graph output' : 'intermediate, added as an output'}), ${h.numClasses} classes`],
    ['features', `'${f.tensor}' ${f.layout} -> ${f.H} x ${f.W} x ${f.D} (HW ${f.HW}, D ${f.D})${grid}`],
    ['non-negative', f.nonNegative ? `yes, by construction (${f.nonNegativeBy})` : 'not by construction (no Relu or Clip(min >= 0) right before pooling)'],
    ['logit check', `relative error ${c.relError.toExponential(2)} (max |diff| ${c.maxAbsError.toExponential(2)}, max |logit| ${c.maxAbsLogit.toPrecision(4)}) <= ${c.tolerance} on ${c.batch} ${c.input === 'supplied' ? 'supplied' : `random normal (seed ${c.seed})`} input(s): passed`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n') + '\n';
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (positionals.length !== 1) throw new UsageError(`expected one MODEL path, got ${positionals.length}\nRun 'protolens inspect --help' for usage.`);
  const classifier = await loadClassifier(positionals[0], optionsFrom(values));
  try {
    const summary = summarizeClassifier(classifier);
    process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
  } finally {
    await classifier.close();
  }
  return ExitCode.ok;
}

export const inspectCommand: Command = { spec, run };
