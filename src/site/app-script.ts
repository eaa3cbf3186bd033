/**
 * The browser app (src/site/browser/app.ts and the pure modules it imports) as one ES module. The
 * installed package ships it prebuilt (dist/site/site-app.js, made by scripts/build-site-app.ts when
 * the package is built); in a checkout it is bundled from the sources with esbuild, a dev
 * dependency, the one package src/ loads that is not a runtime dependency (the layout test allows
 * exactly this import).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InputError } from '../util/errors.ts';

/** File name of the prebuilt bundle next to this module. */
export const PREBUILT_APP = 'site-app.js';

/** Bundle the browser app from the sources (checkout only: needs esbuild). Deterministic output. */
export async function bundleSiteApp(): Promise<string> {
  const esbuild = await import('esbuild');
  const entry = fileURLToPath(new URL('./browser/app.ts', import.meta.url));
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

/**
 * The app's script: the prebuilt bundle when there is one, else a fresh bundle of the sources.
 * @throws InputError when neither exists (a damaged installation).
 */
export async function siteAppScript(): Promise<string> {
  try {
    return await readFile(new URL(`./${PREBUILT_APP}`, import.meta.url), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    return await bundleSiteApp();
  } catch (e) {
    throw new InputError(`the site's browser app is missing (${PREBUILT_APP} next to ${fileURLToPath(import.meta.url)}) and cannot be bundled here (${(e as Error).message}); reinstall protolens`);
  }
}
