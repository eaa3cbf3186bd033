#!/usr/bin/env node
// Entry point of the protolens CLI. Installed from the package, it runs the compiled JavaScript in
// dist/. In a source checkout (src/ beside bin/), it runs the TypeScript sources through tsx, a dev
// dependency, so the repository never runs a stale build.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(source).href);
} else {
  await import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href);
}
