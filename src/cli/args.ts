/**
 * Argument parsing shared by every command (node:util parseArgs underneath), with --help text
 * generated from the same option table that parses, so the two never disagree.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. "S" for --input-size S. */
  value?: string;
  description: string;
  default?: string | boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Extra help paragraphs (examples, exit codes). */
  details?: string;
}

export const commonOptions: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
};

export function helpText(spec: CommandSpec): string {
  const opts = { ...spec.options, ...commonOptions };
  const rows = Object.entries(opts).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : '';
    return [flag, o.description + def] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
  const lines = rows.map(([f, d]) => `  ${f.padEnd(width)}${f.length >= width ? `\n  ${' '.repeat(width)}` : ''}${d}`);
  return [`Usage: ${spec.usage}`, '', spec.summary, '', 'Options:', ...lines, ...(spec.details ? ['', spec.details] : [])].join('\n') + '\n';
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries({ ...spec.options, ...commonOptions })) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    for (const [name, o] of Object.entries(spec.options)) {
      if (values[name] === undefined && o.default !== undefined) (values as Record<string, unknown>)[name] = o.default;
    }
    return { values: values as Parsed['values'], positionals };
  } catch (e) {
    throw new UsageError(`${spec.name}: ${(e as Error).message}\nRun 'protolens ${spec.name} --help' for usage.`);
  }
}

/** Parse a positive integer option, naming the option in the error. */
export function intOption(values: Parsed['values'], name: string, min = 1): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer >= ${min}, got '${String(v)}'`);
  return n;
}

/**
 * Parse a number option in [lo, hi] (hi = Infinity: no upper bound), naming the option and the range
 * in the error; an empty value is refused. Undefined when the option is absent.
 */
export function numberOption(values: Parsed['values'], name: string, lo: number, hi = Infinity): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!(x >= lo && x <= hi) || String(v).trim() === '') throw new UsageError(`--${name}: expected a number in [${lo}, ${hi === Infinity ? 'inf' : hi}], got '${String(v)}'`);
  return x;
}

/** Parse an option that takes one of `allowed`, naming the option and the choices in the error. */
export function oneOfOption<T extends string>(values: Parsed['values'], name: string, allowed: readonly T[]): T | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UsageError(`--${name}: expected one of ${allowed.join(', ')}, got '${String(v)}'`);
  return v as T;
}
