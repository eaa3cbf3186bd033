/** `protolens status --cache DIR`: what a build cache holds and how its shards are doing (library: src/builder/status.ts). */
import { parseCommand, type CommandSpec } from './args.ts';
import type { Command } from './commands.ts';
import { cacheStatus, formatCacheStatus } from '../builder/status.ts';
import { ExitCode, UsageError } from '../util/errors.ts';

const spec: CommandSpec = {
  name: 'status',
  summary: "Show a build cache's progress: classes with features and results, and every shard's state.",
  usage: 'protolens status --cache DIR [--json]',
  options: {
    cache: { type: 'string', value: 'DIR', description: "the --cache folder of the builds (required)" },
    json: { type: 'boolean', description: 'print the status as JSON (layout in docs/scale.md)' },
  },
  details: [
    "Shard states: pending (never started), running, done, failed (with its error), stopped (said running",
    'but its process on this host is gone), silent (said running on another host, no update for 15 minutes).',
    '',
    'Exit codes: 0 shown, 2 usage error, 3 unreadable cache folder.',
  ].join('\n'),
};

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(spec, argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (the cache is given with --cache)\nRun 'protolens status --help' for usage.`);
  const cache = typeof values.cache === 'string' ? values.cache : undefined;
  if (!cache) throw new UsageError("--cache DIR is required\nRun 'protolens status --help' for usage.");
  const s = await cacheStatus(cache);
  process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatCacheStatus(s));
  return ExitCode.ok;
}

export const statusCommand: Command = { spec, run };
