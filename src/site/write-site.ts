/**
 * `writeSite`: a self-contained static folder that explains images in the browser, for people who
 * should get a link, not an install.
 *
 *   index.html        the viewer's page (gallery, class filter, explain form) in site mode
 *   site-app.js       the browser app (decode, preprocess, run, draw, card: src/site/browser/)
 *   site.json         class names, k, preprocessing, model outputs, exemplar lists (site-data.ts)
 *   model.onnx        the explained model (`protolens export`, heatmaps of every class)
 *   ort/              onnxruntime-web's module, its wasm glue and binary (copied from the package)
 *   exemplars/        the network's exemplar patches and their context pictures
 *
 * Any static web host serves it (GitHub Pages, S3, nginx, `python3 -m http.server`); browsers do not
 * load it from a file:// URL (the page says so). The folder is claimed like explain's and evaluate's
 * outputs (io/output-folder.ts): new, empty, or an earlier site; nothing else is ever written into.
 *
 *   const r = await writeSite({ net: 'net/', out: 'site/' });
 */
import { copyFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { maxDecodedPixels } from '../data/decode.ts';
import { validatePreprocessConfig } from '../data/preprocess-config.ts';
import { DEFAULT_COMPLETENESS_TOLERANCE, DEFAULT_TOP } from '../explain/explain.ts';
import { exportExplainedModel } from '../export/onnx-export.ts';
import { pageClasses } from '../html/page-classes.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { claimOutputFolder, recordOutputEntries } from '../io/output-folder.ts';
import { isSameOrInside } from '../io/paths.ts';
import { loadNetwork, MANIFEST_FILE, type Network } from '../network/artifact.ts';
import { EXEMPLARS_DIR, readNetworkExemplars } from '../network/exemplar-index.ts';
import { DEFAULT_BOX_PERCENTILE } from '../pictures/strongest-region.ts';
import { InputError, UsageError } from '../util/errors.ts';
import { checkedInteger, checkedNumber, optional } from '../util/options.ts';
import { packageVersion } from '../util/version.ts';
import { galleryFragment, galleryFragmentPath, lazyGallery, renderViewerPage } from '../viewer/page.ts';
import { DEFAULT_MAX_UPLOAD_BYTES } from '../viewer/server.ts';
import { siteAppScript } from './app-script.ts';
import { SITE_APP_FILE, SITE_DATA_FILE, SITE_MODEL_FILE, SITE_ORT_DIR, SITE_ORT_FILES, SITE_ORT_MODULE, SITE_SCHEMA, SITE_SCHEMA_VERSION, type SiteData, type SiteExemplar } from './site-data.ts';

/** Folder of the gallery's per-class fragments in a site of more than LAZY_GALLERY_CLASSES classes. */
const SITE_GALLERY_DIR = 'gallery';

export interface SiteOptions {
  /** Network folder (or a loaded network). */
  net: Network | string;
  /** The site folder to write: new, empty, or an earlier site. */
  out: string;
  /** Model file instead of the manifest's; it must have the recorded SHA-256. */
  model?: string;
  /** Page title (default 'protolens: <network folder name>'). */
  title?: string;
  /** Classes listed on a card (default 5). */
  top?: number;
  /** Percentile of the strongest-region boxes (default 95). */
  percentile?: number;
  /** onnxruntime threads for the export's check run. */
  threads?: number;
}

export interface SiteResult {
  /** Absolute site folder. */
  dir: string;
  /** Files written and their total size in bytes. */
  files: number;
  bytes: number;
  model: { bytes: number; sha256: string };
  ort: { version: string; bytes: number };
  exemplarFiles: number;
  classes: number;
  k: number;
}

/** onnxruntime-web's dist folder and version, from the installed package. */
async function findOrtWeb(): Promise<{ dir: string; version: string }> {
  const require = createRequire(import.meta.url);
  let wasm: string;
  try {
    wasm = require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
  } catch {
    throw new InputError('protolens site needs the package onnxruntime-web (an optional peer dependency, 14 MB of it goes into the site): install it next to protolens with `npm install onnxruntime-web@^1.30`');
  }
  const dir = dirname(wasm);
  const pkg = JSON.parse(await readFile(join(dir, '..', 'package.json'), 'utf8')) as { version?: string };
  for (const f of SITE_ORT_FILES) {
    if (!(await stat(join(dir, f)).catch(() => null))?.isFile()) throw new InputError(`onnxruntime-web ${pkg.version ?? '?'} at ${dir} has no ${f}; install onnxruntime-web@^1.30`);
  }
  return { dir, version: String(pkg.version ?? 'unknown') };
}

/** Copy a file atomically (a temporary name in the target folder, then rename). */
async function copyAtomic(src: string, dst: string): Promise<number> {
  await mkdir(dirname(dst), { recursive: true });
  const tmp = `${dst}.tmp-${process.pid}`;
  await copyFile(src, tmp);
  await rename(tmp, dst);
  return (await stat(dst)).size;
}

/**
 * Write the static site of a network (see the module comment).
 * @throws UsageError: bad options; InputError: no network or model, onnxruntime-web not installed,
 *   `out` not a new/empty/earlier site folder or inside the network; CheckError: the explained model
 *   does not reproduce the logits (from the export's check).
 */
export async function writeSite(opts: SiteOptions): Promise<SiteResult> {
  if (typeof opts.out !== 'string' || opts.out.trim() === '') throw new UsageError('out: expected the folder to write the site into');
  const top = optional(opts.top, DEFAULT_TOP, (v) => checkedInteger('top', v, 1, Infinity, UsageError));
  const percentile = optional(opts.percentile, DEFAULT_BOX_PERCENTILE, (v) => checkedNumber('percentile', v, { min: 0, max: 100 }, UsageError));
  const network = typeof opts.net === 'string' ? await loadNetwork(opts.net) : opts.net;
  const outAbs = resolve(opts.out);
  if (await isSameOrInside(outAbs, network.dir)) throw new InputError(`--out ${opts.out} is inside network ${network.dir}; write the site to a folder of its own`);
  if (await isSameOrInside(network.dir, outAbs)) throw new InputError(`--out ${opts.out} contains network ${network.dir}; write the site to a folder of its own`);
  const ortWeb = await findOrtWeb();
  const exemplars = await readNetworkExemplars(network);
  const app = await siteAppScript();
  const dir = await claimOutputFolder(opts.out, 'site');
  await recordOutputEntries(dir, ['index.html', SITE_APP_FILE, SITE_DATA_FILE, SITE_MODEL_FILE, SITE_ORT_DIR, EXEMPLARS_DIR]);

  const exported = await exportExplainedModel({ net: network, out: join(dir, SITE_MODEL_FILE), model: opts.model, heatmaps: 'all', threads: opts.threads });
  let bytes = exported.bytes;
  let files = 1;
  let ortBytes = 0;
  for (const f of SITE_ORT_FILES) {
    ortBytes += await copyAtomic(join(ortWeb.dir, f), join(dir, SITE_ORT_DIR, f));
    files++;
  }
  bytes += ortBytes;

  // Exemplar pictures keep their network-relative paths (exemplars/...), which stay inside the site.
  let exemplarFiles = 0;
  const copied = new Set<string>();
  const siteExemplars: SiteExemplar[][][] = network.manifest.classNames.map((_, c) =>
    Array.from({ length: network.prototypeCounts[c] ?? network.k }, (_, i) => (exemplars?.byClass[c]?.[i] ?? []).map((e) => ({ crop: e.crop, context: e.context, image: e.image, score: e.score }))),
  );
  for (const rel of siteExemplars.flat(2).flatMap((e) => [e.crop, e.context])) {
    if (copied.has(rel)) continue;
    const src = resolve(network.dir, rel);
    if (!rel.startsWith(`${EXEMPLARS_DIR}/`) || src === resolve(network.dir, EXEMPLARS_DIR) || !(await isSameOrInside(src, join(network.dir, EXEMPLARS_DIR)))) {
      throw new InputError(`${exemplars?.file}: exemplar picture '${rel}' is not inside the network's ${EXEMPLARS_DIR}/ folder`);
    }
    try {
      bytes += await copyAtomic(src, join(dir, rel));
    } catch (e) {
      throw new InputError(`exemplar picture ${src} (listed in ${exemplars?.file}): ${(e as Error).message}`);
    }
    copied.add(rel);
    exemplarFiles++;
    files++;
  }

  const m = exported.metadata;
  const input = JSON.parse(m['protolens.input']) as SiteData['model']['input'];
  const featureMap = JSON.parse(m['protolens.feature_map']) as { height: number; width: number };
  const names = exported.names;
  if (!names.heatmaps) throw new Error('writeSite: the export has no heatmaps output');
  const title = opts.title ?? `protolens: ${basename(network.dir) || 'network'}`;
  const data: SiteData = {
    schema: SITE_SCHEMA,
    version: SITE_SCHEMA_VERSION,
    generator: `protolens ${packageVersion()}`,
    title,
    classNames: [...network.manifest.classNames],
    k: network.k,
    prototypeCounts: Array.from(network.prototypeCounts),
    preprocess: validatePreprocessConfig(network.manifest.preprocess, join(network.dir, MANIFEST_FILE)),
    model: {
      file: SITE_MODEL_FILE,
      bytes: exported.bytes,
      sha256: exported.sha256,
      source: { name: basename(exported.sourceModel), sha256: exported.sourceSha256 },
      input: { name: input.name, layout: input.layout, channels: input.channels, height: input.height, width: input.width },
      outputs: {
        logits: names.logits,
        contributions: names.contributions,
        bias: names.bias,
        heatmaps: names.heatmaps,
        residualContribution: names.residualContribution,
        residualHeatmaps: names.residualHeatmaps,
      },
      featureMap: { height: featureMap.height, width: featureMap.width },
    },
    explain: { top: Math.min(top, network.numClasses), percentile, tolerance: DEFAULT_COMPLETENESS_TOLERANCE, maxPixels: maxDecodedPixels(), maxFileBytes: DEFAULT_MAX_UPLOAD_BYTES },
    exemplars: siteExemplars,
    ort: { version: ortWeb.version, module: SITE_ORT_MODULE, wasmPaths: `${SITE_ORT_DIR}/` },
  };
  const dataText = `${JSON.stringify(data)}\n`;
  await writeFileAtomic(join(dir, SITE_DATA_FILE), dataText);
  await writeFileAtomic(join(dir, SITE_APP_FILE), app);
  const classes = pageClasses({
    classNames: network.manifest.classNames,
    k: network.k,
    manifestClasses: network.manifest.classes,
    exemplars,
    networkPrefix: '.',
    classTable: null,
    perClassTest: [],
    report: null,
  });
  if (lazyGallery(classes)) {
    await recordOutputEntries(dir, [SITE_GALLERY_DIR]);
    await mkdir(join(dir, SITE_GALLERY_DIR), { recursive: true });
    for (const c of classes) {
      const text = galleryFragment(c);
      await writeFileAtomic(join(dir, galleryFragmentPath(c)), text);
      bytes += Buffer.byteLength(text);
      files++;
    }
  }
  const html = renderViewerPage({ title, networkLabel: `model ${data.model.source.name}`, k: network.k, perPrototype: exemplars?.perPrototype ?? 0, classes, maxUploadBytes: DEFAULT_MAX_UPLOAD_BYTES,
    site: { app: SITE_APP_FILE, preloadModules: [SITE_ORT_MODULE], preloadFetches: [`${SITE_ORT_DIR}/${SITE_ORT_FILES[2]}`, SITE_MODEL_FILE] },
  });
  await writeFileAtomic(join(dir, 'index.html'), html);
  files += 3;
  bytes += Buffer.byteLength(dataText) + Buffer.byteLength(app) + Buffer.byteLength(html);
  return {
    dir,
    files,
    bytes,
    model: { bytes: exported.bytes, sha256: exported.sha256 },
    ort: { version: ortWeb.version, bytes: ortBytes },
    exemplarFiles,
    classes: network.numClasses,
    k: network.k,
  };
}
