/** `protolens explain --net NET_DIR IMAGE...`: explained predictions for images (library: src/explain/explain.ts). */
import { intOption, numberOption, oneOfOption, parseCommand, type CommandSpec, type Parsed } from './args.ts';
import { shardCliOptions, shardFromArgs } from './shard-options.ts';
import { explainDataset } from '../explain/explain-dataset.ts';
import type { DatasetFormat, Split } from '../data/dataset.ts';
import type { Command } from './commands.ts';
import { DEFAULT_COMPLETENESS_TOLERANCE, DEFAULT_EXPLAIN_BATCH, DEFAULT_TOP, Explainer, type ExplainerOptions, type ImageExplanation, type ImageResult, type ImageSource } from '../explain/explain.ts';
import { imageEntry, type ImageEntry } from '../explain/schema.ts';
import { DEFAULT_BOX_PERCENTILE } from '../pictures/strongest-region.ts';
import { datasetImageSources } from '../explain/dataset-images.ts';
import { Progress } from '../util/progress.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'explain',
  summary: "Explain a model's predictions on images: each logit split into per-prototype contributions plus bias.",
  usage: 'protolens explain --net NET_DIR IMAGE... [--class NAME] [--top T] [--out DIR] [--json]\n       protolens explain --net NET_DIR --data DIR --out DIR [--split S] [--max-images N] [--shard I/N]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required)" },
    class: { type: 'string', value: 'NAME', description: 'explain this class (exact name) instead of the predicted one' },
    top: { type: 'string', value: 'T', description: 'classes reported per image (at most the number of classes)', default: String(DEFAULT_TOP) },
    out: { type: 'string', value: 'DIR', description: 'write overlays, combined views, one HTML card per image, index.html and explanations.json here' },
    json: { type: 'boolean', description: 'print the explanation document as JSON (schema protolens.explanation, version 1; docs/explain.md)' },
    data: { type: 'string', value: 'DIR', description: 'with IMAGEs: the dataset they come from (its bounding boxes are used, as the network was built with them); without IMAGEs: explain this dataset\'s split into --out/explanations.jsonl' },
    format: { type: 'string', value: 'cub|imagefolder|auto', description: 'dataset layout (without IMAGEs)', default: 'auto' },
    split: { type: 'string', value: 'train|test|all', description: "split explained without IMAGEs (default: 'test' for CUB, 'all' for ImageFolder)" },
    'class-list': { type: 'string', value: 'FILE', description: "ImageFolder: class names in the model's output order, one per line" },
    'max-images': { type: 'string', value: 'N', description: 'without IMAGEs: at most N images, evenly spaced over the split' },
    model: { type: 'string', value: 'PATH', description: 'model file instead of the one recorded in the network (it must have the recorded SHA-256)' },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads (default: one per physical core)' },
    batch: { type: 'string', value: 'N', description: "images per inference batch (a model's fixed batch size wins)", default: String(DEFAULT_EXPLAIN_BATCH) },
    percentile: { type: 'string', value: 'P', description: 'percentile of the upsampled heatmap that makes the strongest-region box', default: String(DEFAULT_BOX_PERCENTILE) },
    tolerance: { type: 'string', value: 'X', description: 'relative tolerance of the check contributions + bias = logit', default: String(DEFAULT_COMPLETENESS_TOLERANCE) },
    heatmaps: { type: 'boolean', description: 'include each prototype heatmap (feature resolution) in the JSON' },
    inline: { type: 'boolean', description: 'with --out: embed the pictures in each card (one self-contained HTML file per image)' },
    scale: { type: 'string', value: 'N|auto', description: "with --out: overlay and combined-view size as a multiple of the input size ('auto': smallest integer reaching 224 px)", default: 'auto' },
    ...shardCliOptions({
      shard: 'without IMAGEs: explain only shard I of N (consecutive ranges of the images) into --out/shards-N/I.jsonl',
      complete: 'merging shards: explain the shards still missing here instead of failing',
    }),
  },
  details: [
    'Each image is run once through the model; the logits are the model\'s own. For the explained class, every',
    'prototype\'s contribution is the mean of its heatmap x p~^T; contributions + bias = logit is checked on every',
    'image. Without --out no pictures are drawn.',
    '',
    'Exit codes: 0 every image explained, 2 usage error (e.g. an unknown --class, with the closest names),',
    '3 unusable input (no network, a model with another SHA-256, no image could be decoded), 4 failed check,',
    '5 some images could not be decoded (listed on stderr and in the JSON) while the others were explained.',
    '',
    'A whole dataset: --data DIR --out DIR without IMAGEs writes one JSON line per image of the split to',
    'DIR/explanations.jsonl (dataset order; id, label, whether the prediction is right) and',
    'DIR/explanations-summary.json; no pictures. On a cluster, run it with --shard I/N (or auto) on every node',
    'and once without: the shards\' lines are concatenated into the same file a single run writes.',
  ].join('\n'),
};

const signed = (v: number) => `${v >= 0 ? '+' : '-'}${Math.abs(v).toFixed(4)}`;
const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(1)}%`);

/** The text report of one explained image. */
export function formatExplanation(r: ImageExplanation, position: string): string {
  const e = r.explained;
  const lines = [`${position} ${r.image}`];
  lines.push(`  top ${r.top.length}: ${r.top.map((c) => `${c.name} ${(100 * c.probability).toFixed(1)}% (logit ${c.logit.toFixed(4)})`).join(', ')}`);
  lines.push(`  explained: ${e.name} (${e.selectedBy === 'predicted' ? 'predicted' : `--class, rank ${e.rank}`}), logit ${e.logit.toFixed(4)}`);
  const rows: [string, string, string, string][] = e.prototypes.map((t) => [
    `prototype ${t.prototype}`,
    signed(t.contribution),
    pct(t.share),
    t.box ? `box x ${t.box.x}-${t.box.x + t.box.width - 1}, y ${t.box.y}-${t.box.y + t.box.height - 1}` : '',
  ]);
  if (e.residual) rows.push(['residual term', signed(e.residual.contribution), pct(e.residual.share), '']);
  rows.push(['bias', signed(e.bias), pct(Math.abs(e.logit) >= 1e-9 ? e.bias / e.logit : null), '']);
  const w = Math.max(...rows.map((x) => x[0].length));
  for (const [a, b, c, d] of rows) lines.push(`    ${a.padEnd(w)}  ${b.padStart(11)}  ${c.padStart(7)}  ${d}`.trimEnd());
  lines.push(`    ${'sum'.padEnd(w)}  ${signed(e.sum).padStart(11)}  (sum - logit = ${e.difference.toExponential(1)})`);
  if (r.pictures) lines.push(`  card: ${r.pictures.card}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n') + '\n';
}

/** The Explainer's options from the command line (both modes). */
function explainerOptions(values: Parsed['values']): ExplainerOptions {
  return {
    top: intOption(values, 'top'),
    percentile: numberOption(values, 'percentile', { min: 0, max: 100 })!,
    tolerance: numberOption(values, 'tolerance', { min: 0 })!,
    ...(typeof values.class === 'string' ? { className: values.class } : {}),
    ...(typeof values.model === 'string' ? { model: values.model } : {}),
    ...(values.threads !== undefined ? { threads: intOption(values, 'threads') } : {}),
  };
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (typeof values.net !== 'string') throw new UsageError("--net NET_DIR is required\nRun 'protolens explain --help' for usage.");
  if (positionals.length === 0 && typeof values.data === 'string') return runDataset(values);
  if (shardFromArgs(values)) throw new UsageError("--shard is for explaining a whole dataset (--data DIR --out DIR without IMAGEs)");
  if (positionals.length === 0) throw new UsageError("expected at least one IMAGE (or --data DIR --out DIR to explain a whole dataset)\nRun 'protolens explain --help' for usage.");
  const opts = explainerOptions(values);
  const batchSize = intOption(values, 'batch');
  const out = typeof values.out === 'string' ? values.out : undefined;
  const json = values.json === true;
  const heatmaps = values.heatmaps === true;
  const scale = values.scale === 'auto' ? 'auto' : numberOption(values, 'scale', { min: 0.01, max: 64 })!;
  let sources: ImageSource[] = positionals;
  if (typeof values.data === 'string') {
    const found = await datasetImageSources(positionals, values.data);
    sources = found.sources;
    if (found.matched < positionals.length) process.stderr.write(`protolens explain: ${positionals.length - found.matched} of ${positionals.length} images are not in the dataset ${values.data}; they are used whole\n`);
  }
  const ex = await Explainer.open(values.net, opts);
  const entries: ImageEntry[] = [];
  const failed: ImageResult[] = [];
  const n = positionals.length;
  const progress = json ? new Progress({ label: 'explain', total: n, unit: 'images' }) : null;
  try {
    for await (const r of ex.explainImages(sources, { out, batchSize, heatmaps, inline: values.inline === true, scale })) {
      if (json) entries.push(imageEntry(r, { heatmaps }));
      if (r.status === 'failed') {
        failed.push(r);
        process.stderr.write(`protolens explain: image ${r.image}: ${r.reason}\n`);
      } else if (!json) process.stdout.write(formatExplanation(r, `[${r.index + 1}/${n}]`));
      progress?.tick(1);
    }
  } finally {
    await ex.close();
  }
  progress?.finish();
  if (json) process.stdout.write(`${JSON.stringify(ex.document(entries, out ?? null), null, 2)}\n`);
  else if (out !== undefined) process.stdout.write(`index: ${ex.header(out).out}/index.html\n`);
  if (failed.length > 0) {
    process.stderr.write(`protolens explain: ${n - failed.length} of ${n} images explained; ${failed.length} failed: ${failed.map((f) => f.image).join(', ')}\n`);
    return failed.length === n ? ExitCode.input : ExitCode.partial;
  }
  return ExitCode.ok;
}

/** `explain --data DIR --out DIR` without images: the whole split (or a shard of it) as JSON lines. */
async function runDataset(values: Parsed['values']): Promise<number> {
  if (typeof values.out !== 'string') throw new UsageError("--out DIR is required to explain a whole dataset (--data without IMAGEs): the lines go to DIR/explanations.jsonl\nRun 'protolens explain --help' for usage.");
  if (values.inline === true) throw new UsageError('--inline is for explaining IMAGEs with pictures; a whole dataset is explained as JSON lines only');
  const shard = shardFromArgs(values);
  let progress: Progress | null = null;
  const summary = await explainDataset({
    net: values.net as string,
    data: values.data as string,
    out: values.out,
    format: oneOfOption<DatasetFormat | 'auto'>(values, 'format', ['cub', 'imagefolder', 'auto']),
    split: oneOfOption<Split>(values, 'split', ['train', 'test', 'all']),
    ...(typeof values['class-list'] === 'string' ? { classList: values['class-list'] } : {}),
    maxImages: intOption(values, 'max-images', 1),
    ...explainerOptions(values),
    batchSize: intOption(values, 'batch'),
    heatmaps: values.heatmaps === true,
    ...(shard ? { shard } : {}),
    complete: values.complete === true,
    onProgress: (done, total) => {
      progress ??= new Progress({ label: 'explain', total, unit: 'images' });
      progress.update(done);
    },
  });
  (progress as Progress | null)?.finish();
  const s = summary.summary;
  if (values.json === true) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    const what = summary.shard ? `shard ${summary.shard.index}/${summary.shard.count} (images ${summary.shard.range[0]}..${summary.shard.range[1] - 1})` : summary.mergedShards ? `${summary.mergedShards} shards merged` : 'all images';
    process.stdout.write(`${what}: ${s.explained} of ${s.images} images explained${s.top1 === null ? '' : `, top-1 ${(100 * s.top1).toFixed(2)}%`} -> ${summary.file}\n`);
  }
  for (const f of summary.failures.slice(0, 20)) process.stderr.write(`protolens explain: image ${f.image}: ${f.error}\n`);
  if (s.failed > 0 && s.failed === s.images) return ExitCode.input;
  return s.failed > 0 ? ExitCode.partial : ExitCode.ok;
}

export const explainCommand: Command = { spec, run };
