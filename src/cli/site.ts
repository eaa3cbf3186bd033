/** `protolens site --net NET_DIR --out DIR`: a static site that explains images in the browser (library: src/site/write-site.ts). */
import { intOption, numberOption, parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { writeSite, type SiteResult } from '../site/write-site.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'site',
  summary: 'Write a static web site that explains images in the browser (onnxruntime-web): a link to share, no install.',
  usage: 'protolens site --net NET_DIR --out DIR [--model PATH] [--title TEXT] [--top T] [--percentile P] [--json]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required)" },
    out: { type: 'string', value: 'DIR', description: 'the site folder: new, empty, or an earlier site (required)' },
    model: { type: 'string', value: 'PATH', description: 'model file instead of the one recorded in the network (it must have the recorded SHA-256)' },
    title: { type: 'string', value: 'TEXT', description: "page title (default 'protolens: <network folder name>')" },
    top: { type: 'string', value: 'T', description: 'classes listed on a card', default: '5' },
    percentile: { type: 'string', value: 'P', description: 'percentile of the strongest-region boxes', default: '95' },
    threads: { type: 'string', value: 'N', description: "onnxruntime intra-op threads for the export's check run" },
    json: { type: 'boolean', description: 'print the result (folder, files, sizes, versions) as JSON' },
  },
  details: [
    'The folder holds index.html, the explained model (as protolens export writes it, heatmaps of every',
    "class), onnxruntime-web's wasm files, the exemplar pictures and site.json. Any static host serves it",
    '(GitHub Pages, S3, nginx, python3 -m http.server); browsers do not run it from a file:// URL. Images',
    'are decoded, preprocessed and explained in the visitor\'s browser and never leave it (docs/site.md).',
    'Needs the package onnxruntime-web next to protolens (npm install onnxruntime-web@^1.30).',
    '',
    'Exit codes: 0 written, 2 usage error, 3 unusable input (no network or model, onnxruntime-web missing,',
    'an --out folder protolens does not own), 4 failed check (the explained model does not reproduce the logits).',
  ].join('\n'),
};

/** The text report of a site. */
export function formatSite(r: SiteResult): string {
  return [
    `wrote ${r.dir} (${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB)`,
    `  model.onnx ${(r.model.bytes / 1e6).toFixed(2)} MB (SHA-256 ${r.model.sha256}); ${r.classes} classes, k = ${r.k}`,
    `  onnxruntime-web ${r.ort.version} (${(r.ort.bytes / 1e6).toFixed(1)} MB); ${r.exemplarFiles} exemplar pictures`,
    `  serve the folder with any static web server, e.g. python3 -m http.server -d ${r.dir}`,
  ].join('\n') + '\n';
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (typeof values.net !== 'string') throw new UsageError("--net NET_DIR is required\nRun 'protolens site --help' for usage.");
  if (typeof values.out !== 'string' || values.out === '') throw new UsageError("--out DIR is required\nRun 'protolens site --help' for usage.");
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\nRun 'protolens site --help' for usage.`);
  const threads = intOption(values, 'threads');
  const r = await writeSite({
    net: values.net,
    out: values.out,
    ...(typeof values.model === 'string' ? { model: values.model } : {}),
    ...(typeof values.title === 'string' ? { title: values.title } : {}),
    top: intOption(values, 'top'),
    percentile: numberOption(values, 'percentile', { min: 0, max: 100 }),
    ...(threads !== undefined ? { threads } : {}),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(r, null, 2)}\n` : formatSite(r));
  return ExitCode.ok;
}

export const siteCommand: Command = { spec, run };
