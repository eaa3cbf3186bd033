/**
 * Starting worker threads whose entry is one of this project's modules. From the TypeScript sources
 * the worker registers tsx's loader before importing its entry (worker threads do not inherit
 * `--import tsx`); from the built JavaScript it starts directly.
 */
import { Worker } from 'node:worker_threads';

/** Start a worker running `entry` ('./x.ts' relative to `base`, the caller's import.meta.url). */
export function startModuleWorker(entry: string, base: string): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(entry.replace(/\.ts$/, '.js'), base));
  const api = import.meta.resolve('tsx/esm/api');
  const url = new URL(entry, base).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(code, { eval: true });
}
