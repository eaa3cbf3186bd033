// Writes the browser app of `protolens site` (src/site/browser/app.ts, bundled) to
// dist/site/site-app.js, or to the path given; `npm run build` runs it after tsc.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { bundleSiteApp, PREBUILT_APP } from '../src/site/app-script.ts';

const out = resolve(process.argv[2] ?? `dist/site/${PREBUILT_APP}`);
const text = await bundleSiteApp();
await mkdir(dirname(out), { recursive: true });
await writeFile(out, text);
console.log(`${out}: ${text.length} bytes`);
