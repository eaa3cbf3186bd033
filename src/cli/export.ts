/** `protolens export --net NET_DIR --out FILE.onnx`: the explained model as one ONNX file (library: src/export/onnx-export.ts). */
import { intOption, oneOfOption, parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { DEFAULT_EXPORT_HEATMAPS, HEATMAP_MODES, exportExplainedModel, type ExportResult } from '../export/onnx-export.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'export',
  summary: 'Write one ONNX model that outputs the logits, every prototype contribution, the bias and the heatmaps.',
  usage: 'protolens export --net NET_DIR --out FILE.onnx [--model PATH] [--heatmaps all|top|none] [--json]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required)" },
    out: { type: 'string', value: 'FILE', description: 'the .onnx file to write (required; written atomically)' },
    model: { type: 'string', value: 'PATH', description: 'model file instead of the one recorded in the network (it must have the recorded SHA-256)' },
    heatmaps: { type: 'string', value: 'all|top|none', description: "heatmaps output: every class [N, C, k, H, W], the argmax class only [N, k, H, W] ('top', for many classes), or none", default: DEFAULT_EXPORT_HEATMAPS },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads for the check run (default: one per physical core)' },
    json: { type: 'boolean', description: 'print the result (path, SHA-256, outputs with shapes, metadata, check) as JSON' },
  },
  details: [
    'The exported model takes the same input as the original and keeps its graph and outputs; it adds',
    'logits [N, C] (the model\'s own), contributions [N, C, k], bias [C] and heatmaps, and, for networks built with',
    'allocator none, residual_contribution [N, C] (and residual_heatmaps [N, C, H, W] with --heatmaps all), so that',
    'contributions.sum(-1) (+ residual_contribution) + bias = logits. Class names, k and the source SHA-256 are in',
    'the model metadata (docs/export.md). Before writing, the exported model is run once on a seeded random batch',
    'and must reproduce the original logits and their decomposition.',
    '',
    'Exit codes: 0 written, 2 usage error, 3 unusable input (no network, a model with another SHA-256,',
    'an unwritable output), 4 failed check (the exported model does not reproduce the logits).',
  ].join('\n'),
};

/** The text report of an export. */
export function formatExport(r: ExportResult): string {
  const lines = [`wrote ${r.path} (${(r.bytes / 1e6).toFixed(2)} MB, SHA-256 ${r.sha256})`];
  lines.push(`  source model: ${r.sourceModel} (SHA-256 ${r.sourceSha256})`);
  lines.push(`  input: ${r.inputName}; ${r.numClasses} classes, k = ${r.k}, heatmaps ${r.heatmaps}${r.residual ? ', residual term output as residual_contribution' : ''}`);
  const w = Math.max(...r.outputs.map((o) => o.name.length));
  for (const o of r.outputs) lines.push(`  ${o.name.padEnd(w)}  ${o.dtype} [${o.shape.join(', ')}]`);
  const c = r.check;
  lines.push(`  check (${c.batch} random inputs, seed ${c.seed}): logits ${c.logitsBitEqual ? 'bit-identical' : `relative error ${c.logitsRelError.toExponential(2)}`}, contributions + bias - logit relative error ${c.completenessRelError.toExponential(2)}`);
  return lines.join('\n') + '\n';
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (typeof values.net !== 'string') throw new UsageError("--net NET_DIR is required\nRun 'protolens export --help' for usage.");
  if (typeof values.out !== 'string' || values.out === '') throw new UsageError("--out FILE.onnx is required\nRun 'protolens export --help' for usage.");
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\nRun 'protolens export --help' for usage.`);
  const heatmaps = oneOfOption(values, 'heatmaps', HEATMAP_MODES);
  const threads = intOption(values, 'threads');
  const r = await exportExplainedModel({
    net: values.net,
    out: values.out,
    ...(typeof values.model === 'string' ? { model: values.model } : {}),
    ...(heatmaps ? { heatmaps } : {}),
    ...(threads !== undefined ? { threads } : {}),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(r, null, 2)}\n` : formatExport(r));
  return ExitCode.ok;
}

export const exportCommand: Command = { spec, run };
