/** The command registry: each command module exports a spec (parsed + help) and a run function. */
import type { CommandSpec } from './args.ts';
import { inspectCommand } from './inspect.ts';
import { buildCommand } from './build.ts';
import { explainCommand } from './explain.ts';
import { evaluateCommand } from './evaluate.ts';
import { exportCommand } from './export.ts';
import { viewCommand } from './view.ts';

export interface Command {
  spec: CommandSpec;
  run(argv: string[]): Promise<number>;
}

export const commands: Command[] = [inspectCommand, buildCommand, explainCommand, evaluateCommand, exportCommand, viewCommand];
