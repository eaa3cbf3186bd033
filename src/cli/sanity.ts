/** `protolens sanity --net NET_DIR --data DIR --out DIR`: the model-randomisation sanity check (library: src/checks/randomisation.ts). */
import { intOption, listOption, parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { DEFAULT_RANDOMISED_LAYERS, formatRandomisation, randomisationCheck } from '../checks/randomisation.ts';
import { METRIC_NAMES, type MetricName } from '../evaluate/output/report.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'sanity',
  summary: "Check that explanations depend on the model: rebuild on a model with its top layers randomised, compare the scores.",
  usage: 'protolens sanity --net NET_DIR --data DIR --out DIR [--layers L] [--no-cascade] [--metrics LIST] [--json]',
  options: {
    net: { type: 'string', value: 'DIR', description: "network folder made by 'protolens build' (required; its manifest gives the model and the build's options)" },
    data: { type: 'string', value: 'DIR', description: 'dataset root, CUB-200-2011 layout with parts (required): the build and the evaluations read it' },
    out: { type: 'string', value: 'DIR', description: 'write the randomised model, its network, both evaluations and randomisation.json/.md here (required)' },
    layers: { type: 'string', value: 'L', description: 'convolutions redrawn, counted down from the features (cascading: 1, 2, ... L, each rebuilt and evaluated)', default: String(DEFAULT_RANDOMISED_LAYERS) },
    'no-cascade': { type: 'boolean', description: 'redraw the L convolutions at once only (no cascade of 1 .. L - 1)' },
    seed: { type: 'string', value: 'S', description: 'seed of the redrawn weights', default: '0' },
    metrics: { type: 'string', value: 'LIST', description: 'scores compared (default consistency,stability,distinctiveness and comprehensiveness when the dataset has masks; purity when listed)' },
    'max-images': { type: 'string', value: 'N', description: 'evaluate at most N test images, evenly spaced' },
    threads: { type: 'string', value: 'N', description: 'threads of the rebuild and the evaluations' },
    json: { type: 'boolean', description: "print the report as JSON (schema 'protolens.randomisation-check')" },
  },
  details: [
    'Adebayo et al. (2018): redraw the weights of the last L convolutions before the feature tensor (N(0, s^2) with',
    "each layer's own spread, seeded), build a network on that model with the original network's options, evaluate",
    'both alike. Prototypes of the randomised model should score far lower.',
    '',
    'Exit codes: 0 every compared score of the refined prototypes fell, 2 usage error, 3 unusable input,',
    '4 some score did not fall (the explanations may not depend on what the model learned).',
  ].join('\n'),
};

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\nRun 'protolens sanity --help' for usage.`);
  for (const o of ['net', 'data', 'out'] as const) if (typeof values[o] !== 'string') throw new UsageError(`--${o} is required\nRun 'protolens sanity --help' for usage.`);
  const metrics = listOption<MetricName>(values, 'metrics', METRIC_NAMES);
  const threads = intOption(values, 'threads', 1);
  const maxImages = intOption(values, 'max-images', 1);
  const report = await randomisationCheck({
    net: values.net as string,
    data: values.data as string,
    out: values.out as string,
    layers: intOption(values, 'layers', 1),
    cascade: values['no-cascade'] !== true,
    seed: intOption(values, 'seed', 0),
    ...(metrics ? { metrics } : {}),
    ...(threads !== undefined ? { threads } : {}),
    evaluation: { ...(maxImages !== undefined ? { maxImages } : {}), ...(threads !== undefined ? { threads } : {}) },
    onProgress: (step, note) => process.stderr.write(`protolens sanity: ${step}${note ? ` (${note})` : ''}\n`),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatRandomisation(report));
  return report.refinedScoresFell ? ExitCode.ok : ExitCode.check;
}

export const sanityCommand: Command = { spec, run };
