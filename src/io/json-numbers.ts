/**
 * JSON that keeps every number: JSON.stringify writes NaN and +-Infinity as null, which would turn a
 * failed check (a NaN error) into a passing one after a round trip. `stringifyNumbers` writes them as
 * `{"$number": "NaN" | "Infinity" | "-Infinity"}` and `parseNumbers` reads them back; finite numbers
 * round-trip exactly (JavaScript prints the shortest decimal that reads back as the same double).
 */
const TAG = '$number';

export function stringifyNumbers(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { [TAG]: String(v) } : v));
}

export function parseNumbers(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const tag = (v as Record<string, unknown>)[TAG];
      if (keys.length === 1 && (tag === 'NaN' || tag === 'Infinity' || tag === '-Infinity')) return Number(tag);
    }
    return v;
  });
}
