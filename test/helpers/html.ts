// A small well-formedness check for the HTML pages the tests render.
import assert from 'node:assert/strict';

/** Non-void elements open and close in order (the doctype and the style block are skipped). */
export function assertBalanced(html: string): void {
  const voids = new Set(['img', 'meta', 'br', 'hr', 'input', 'link', 'source']);
  const stack: string[] = [];
  const body = html.replace(/<!doctype[^>]*>/i, '').replace(/<style>[\s\S]*?<\/style>/, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [, close, tag, self] = m;
    const t = tag.toLowerCase();
    if (self || voids.has(t)) continue;
    if (close) assert.equal(stack.pop(), t, `closing </${t}> at ${m.index}`);
    else stack.push(t);
  }
  assert.deepEqual(stack, []);
}
