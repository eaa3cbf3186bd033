/**
 * Validation of option values, the one implementation every layer uses (library options, CLI flags,
 * dataset parameters): each check names the option through `label` ("option k", "--k", "maxImages"),
 * says what was expected and what was given, and treats NaN and infinities as invalid numbers. Errors
 * are InputErrors unless the caller asks for another kind (the CLI: UsageError).
 */
import { InputError } from './errors.ts';

export type ErrorKind = new (message: string) => Error;

/** How a given value is shown in an error: numbers as numbers (NaN stays NaN), the rest as JSON. */
export function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value) ?? String(value);
}

/** An integer in [min, max]. */
export function checkedInteger(label: string, value: unknown, min: number, max = Infinity, Err: ErrorKind = InputError): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new Err(`${label}: expected an integer ${range}, got ${shown(value)}`);
  }
  return value;
}

export interface NumberRange {
  /** Lower bound (default -Infinity). */
  min?: number;
  /** Upper bound (default Infinity). */
  max?: number;
  /** The lower bound itself is refused (default false). */
  exclusiveMin?: boolean;
}

/** A finite number within the range. */
export function checkedNumber(label: string, value: unknown, range: NumberRange = {}, Err: ErrorKind = InputError): number {
  const { min = -Infinity, max = Infinity, exclusiveMin = false } = range;
  const ok = typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && value <= max;
  if (!ok) {
    const lo = min === -Infinity ? '' : exclusiveMin ? `> ${min}` : `>= ${min}`;
    const what = max === Infinity ? (lo ? ` ${lo}` : '') : exclusiveMin || min === -Infinity ? `${lo ? ` ${lo} and` : ''} <= ${max}` : ` from ${min} to ${max}`;
    throw new Err(`${label}: expected a finite number${what}, got ${shown(value)}`);
  }
  return value as number;
}

/** One of `allowed`. */
export function checkedChoice<T extends string>(label: string, value: unknown, allowed: readonly T[], Err: ErrorKind = InputError): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new Err(`${label}: expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${shown(value)}`);
  }
  return value as T;
}

/** `fallback` when the value is absent (undefined or null), else the value checked by `check`. */
export function optional<T, F>(value: unknown, fallback: F, check: (v: unknown) => T): T | F {
  return value === undefined || value === null ? fallback : check(value);
}
