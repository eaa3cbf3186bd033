/**
 * Checks of a written page: every src and href is either an in-page anchor or a relative path to a
 * file that exists inside the page's folder. The demo runs it on its own page, so a broken picture
 * is found when the page is written, not when someone opens it.
 */
import { stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';

/** Every src/href value of an HTML document, HTML entities of attribute values decoded. */
export function pageReferences(html: string): string[] {
  const decode = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => decode(m[1]));
}

/** The problems of each reference of `html` written in folder `dir` (empty when every link is good). */
export async function brokenReferences(html: string, dir: string): Promise<string[]> {
  const problems: string[] = [];
  const root = resolve(dir);
  for (const ref of new Set(pageReferences(html))) {
    if (ref.startsWith('#')) continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref) || ref.startsWith('/') || ref.startsWith('\\')) {
      problems.push(`${ref}: not a relative link`);
      continue;
    }
    let path: string;
    try {
      path = resolve(root, decodeURIComponent(ref.split('#')[0]));
    } catch {
      problems.push(`${ref}: not a valid percent-encoded path`);
      continue;
    }
    const rel = relative(root, path);
    if (rel.startsWith('..') || rel.split(sep).includes('..')) {
      problems.push(`${ref}: outside the page's folder`);
      continue;
    }
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) problems.push(`${ref}: no such file`);
  }
  return problems;
}
