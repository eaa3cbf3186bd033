/**
 * Argument parsing shared by every command (node:util parseArgs underneath), with --help text
 * generated from the same option table that parses, so the two never disagree.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.ts';
import { checkedInteger, checkedNumber, type NumberRange } from '../util/options.ts';

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

/** Edit distance of two short strings (option names). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** node:util parseArgs' messages in the words of this CLI: an unknown option names the closest ones. */
function plainParseError(e: Error & { code?: string }, names: string[]): string {
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(e.message);
    const given = (m?.[1] ?? '').replace(/^-+/, '');
    const close = names.map((n) => ({ n, d: distance(given, n) })).filter((x) => x.d <= Math.max(2, Math.floor(given.length / 3))).sort((a, b) => a.d - b.d).slice(0, 3);
    return `unknown option '${m?.[1] ?? given}'${close.length ? `; did you mean ${close.map((x) => `--${x.n}`).join(' or ')}?` : ''}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '(-\w, )?(--[^ ']+)[^']*' argument missing/.exec(e.message);
    if (m) return `${m[2]}: expected a value after it`;
  }
  return e.message.split('\n')[0];
}

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries({ ...spec.options, ...commonOptions })) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  const usage = (message: string) => new UsageError(`${message}\nRun 'protolens ${spec.name} --help' for usage.`);
  // A value that starts with a dash (a negative number) must be attached: --k=-3. Say so plainly.
  for (let i = 0; i + 1 < argv.length; i++) {
    const m = /^--([^=]+)$/.exec(argv[i]);
    if (m && options[m[1]]?.type === 'string' && /^-\d/.test(argv[i + 1])) throw usage(`--${m[1]}: a value starting with '-' must be attached, as --${m[1]}=${argv[i + 1]}`);
  }
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; allowPositionals: true; strict: true; tokens: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw usage(plainParseError(e as Error & { code?: string }, Object.keys(options)));
  }
  // An option given twice would silently keep the last value: refuse it (unless it takes several).
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw usage(`--${t.name} is given more than once; give it once`);
    seen.add(t.name);
  }
  const { values, positionals } = parsed;
  for (const [name, o] of Object.entries(spec.options)) {
    if (values[name] === undefined && o.default !== undefined) (values as Record<string, unknown>)[name] = o.default;
  }
  return { values: values as Parsed['values'], positionals };
}

/** The raw text of a string option, or undefined when absent. */
function raw(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError(`--${name}: expected one value, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Parse an integer option >= `min` (decimal digits only: '0x3', '1e3' and '' are refused), naming the
 * option in the error. Undefined when the option is absent.
 */
export function intOption(values: Parsed['values'], name: string, min = 1): number | undefined {
  const v = raw(values, name);
  if (v === undefined) return undefined;
  if (!/^[+-]?\d+$/.test(v.trim())) throw new UsageError(`--${name}: expected an integer >= ${min}, got '${v}'`);
  return checkedInteger(`--${name}`, Number(v), min, Infinity, UsageError);
}

/**
 * Parse a number option within `range` (finite only; an empty value is refused), naming the option and
 * the range in the error. Undefined when the option is absent.
 */
export function numberOption(values: Parsed['values'], name: string, range: NumberRange = {}): number | undefined {
  const v = raw(values, name);
  if (v === undefined) return undefined;
  const x = v.trim() === '' ? NaN : Number(v);
  return checkedNumber(`--${name}`, x, range, UsageError);
}

/** Parse an option that takes one of `allowed`, naming the option and the choices in the error. */
export function oneOfOption<T extends string>(values: Parsed['values'], name: string, allowed: readonly T[]): T | undefined {
  const v = raw(values, name);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UsageError(`--${name}: expected one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** A comma-separated list option whose items must be among `allowed` (undefined when not given). */
export function listOption<T extends string>(values: Parsed['values'], name: string, allowed: readonly T[]): T[] | undefined {
  const v = values[name];
  if (typeof v !== 'string') return undefined;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${name}: expected a comma-separated list from ${allowed.join(', ')}, got '${v}'`);
  for (const it of items) if (!allowed.includes(it as T)) throw new UsageError(`--${name}: unknown '${it}'; expected ${allowed.join(', ')}`);
  return items as T[];
}

