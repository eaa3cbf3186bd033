/**
 * The protolens command line: dispatches to one module per command. Commands parse arguments and
 * call the library; no method logic lives here.
 */
import { ExitCode, ProtolensError } from '../util/errors.ts';
import { packageVersion } from '../util/version.ts';
import { commands } from './commands.ts';
import { helpText } from './args.ts';

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'Usage: protolens <command> [options]',
    '',
    'Post-hoc part-prototype explanations for ONNX image classifiers (GAP + linear head).',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'protolens <command> --help' for a command's options.",
    '',
    'Exit codes: 0 ok, 1 internal error, 2 usage error, 3 unusable input, 4 failed numerical check,',
    '            5 finished with some items failed.',
  ].join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return ExitCode.ok;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`protolens: unknown command '${name}'\n\n${mainHelp()}`);
    return ExitCode.usage;
  }
  const cmd = await entry.load();
  // Every command's --help is answered here, from the same spec that parses its options.
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpText(cmd.spec));
    return ExitCode.ok;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof ProtolensError) {
      process.stderr.write(`protolens ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`protolens ${name}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return ExitCode.internal;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
