/**
 * Serving files from a fixed folder without ever leaving it: a request path is decoded segment by
 * segment, '.', '..', empty segments, NUL and backslashes are refused, and the resolved file (after
 * following symbolic links) must still lie inside the folder's own real path.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

/** Content types by file extension (lower case); anything else is application/octet-stream. */
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** The content type of a file name by its extension. */
export function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The absolute file that the URL path `rest` (the part after the route prefix, still percent-encoded,
 * '/'-separated) names inside `root`, or null when the path is malformed, tries to leave the folder,
 * or names no regular file.
 */
export async function resolveInside(root: string, rest: string): Promise<string | null> {
  const segments = rest.split('/');
  const decoded: string[] = [];
  for (const s of segments) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      return null;
    }
    if (d === '' || d === '.' || d === '..' || d.includes('/') || d.includes('\\') || d.includes('\0')) return null;
    decoded.push(d);
  }
  if (decoded.length === 0) return null;
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(join(realRoot, ...decoded));
  } catch {
    return null;
  }
  if (!real.startsWith(realRoot + sep)) return null;
  const st = await stat(real).catch(() => null);
  return st?.isFile() ? real : null;
}

/** Types a browser may run scripts from (served from untrusted folders only as attachments). */
const ACTIVE_TYPES = ['.html', '.htm', '.svg', '.xml', '.xhtml'];

/**
 * Stream `file` as the response body with its content type (status 200). An `untrusted` file (from a
 * folder protolens did not write, such as the dataset) is sandboxed (CSP `sandbox`: no script, no
 * same-origin access), and one of a type that can carry script (HTML, SVG, XML) is sent as a download.
 */
export function sendFile(res: ServerResponse, file: string, size?: number, opts: { untrusted?: boolean; cacheControl?: string } = {}): void {
  const active = ACTIVE_TYPES.includes(extname(file).toLowerCase());
  res.writeHead(200, {
    'Content-Type': contentType(file),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': opts.cacheControl ?? 'no-cache',
    ...(opts.untrusted ? { 'Content-Security-Policy': 'sandbox' } : {}),
    ...(opts.untrusted && active ? { 'Content-Disposition': 'attachment' } : {}),
    ...(size !== undefined ? { 'Content-Length': String(size) } : {}),
  });
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
