/**
 * The package's own version, read once from package.json (two folders up from this module, the same
 * in src/ and in the compiled dist/), so it is written in one place only.
 */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** The version in package.json, or 'unknown' when the file cannot be read. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = String(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version ?? 'unknown');
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
