/** `--shard I/N|auto`, `--shards N` and `--complete`, as build and evaluate take them. */
import { intOption, type OptionSpec, type Parsed } from './args.ts';
import { parseShard, type ShardSpec } from '../builder/shards.ts';
import { UsageError } from '../util/errors.ts';

/** The three options; `what` says what a shard computes and what the final run does. */
export function shardCliOptions(what: { shard: string; complete: string }): Record<string, OptionSpec> {
  return {
    shard: { type: 'string', value: 'I/N|auto', description: `${what.shard}; 'auto' reads SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX (with --shards)` },
    shards: { type: 'string', value: 'N', description: 'number of shards for --shard auto (required with Kubernetes Indexed Jobs)' },
    complete: { type: 'boolean', description: what.complete },
  };
}

/** The shard from --shard and --shards (and the scheduler's environment for 'auto'), or null. */
export function shardFromArgs(values: Parsed['values'], env: NodeJS.ProcessEnv = process.env): ShardSpec | null {
  const shards = intOption(values, 'shards');
  const text = typeof values.shard === 'string' ? values.shard : undefined;
  if (text === undefined) {
    if (shards !== undefined) throw new UsageError('--shards N is used with --shard auto');
    return null;
  }
  if (values.complete === true) throw new UsageError('--complete is for the final run without --shard (it computes what the shards left missing)');
  return parseShard(text, shards, env);
}
