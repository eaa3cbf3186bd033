/** Small helpers of the HTML pages (demo report and viewer): escaping, relative links, number formats, display names. */
import { escapeHtml } from '../explain/card-html.ts';
import { InputError } from '../util/errors.ts';

export { escapeHtml as esc };

/**
 * A relative path as it goes into src/href: each segment percent-encoded, then HTML-escaped.
 * Anything that would load from elsewhere (a URL, an absolute path, '..' above the page) is refused.
 */
export function url(path: string, field = 'path'): string {
  if (typeof path !== 'string' || path === '') throw new InputError(`demo page: ${field} must be a non-empty relative path, got ${JSON.stringify(path)}`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith('/') || path.startsWith('\\') || path.includes('\\')) {
    throw new InputError(`demo page: ${field} '${path}' is not a relative path inside the output folder`);
  }
  const segments = path.split('/');
  if (segments.includes('..')) throw new InputError(`demo page: ${field} '${path}' leaves the output folder`);
  return escapeHtml(segments.map(encodeURIComponent).join('/'));
}

/** A typographic minus for negative numbers. */
const minus = (s: string) => s.replace(/^-/, '\u2212');

/** Fixed digits, or '–' for null/non-finite. */
export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '\u2013';
  return minus(v.toFixed(digits));
}

/** Signed, fixed digits ('+1.250', '−0.500'). */
export function signed(v: number, digits = 3): string {
  return v >= 0 ? `+${v.toFixed(digits)}` : minus(v.toFixed(digits));
}

/** A fraction as a percentage ('98.9%'). */
export function pct(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '\u2013';
  return `${(100 * fraction).toFixed(digits)}%`;
}

/** Scientific for tiny values, fixed otherwise. */
export function sci(v: number): string {
  if (!Number.isFinite(v)) return '\u2013';
  if (v === 0) return '0';
  return Math.abs(v) < 1e-3 ? minus(v.toExponential(1)) : minus(v.toFixed(4));
}

/** Seconds as '12.3 s' or '2 min 05 s'. */
export function duration(s: number): string {
  if (!Number.isFinite(s)) return '\u2013';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
}

/** '001.Black_headed_Fantail' -> 'Black headed Fantail'. */
export function displayName(folder: string): string {
  return folder.replace(/^\d+\./, '').replace(/_/g, ' ');
}

/** '001.Black_headed_Fantail' -> '001' (or the 1-based index when the name has no number). */
export function classNumber(folder: string, index: number): string {
  return /^(\d+)\./.exec(folder)?.[1] ?? String(index + 1).padStart(3, '0');
}
