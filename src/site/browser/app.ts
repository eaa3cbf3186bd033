/**
 * The static site's app (bundled to site-app.js by src/site/app-script.ts): explains an image in the
 * browser with the same code the Node side uses, where that code is pure.
 *
 *   decode (createImageBitmap, canvas)  ->  crop + Pillow-exact resize + normalisation (src/data/preprocess.ts)
 *   ->  the explained ONNX model in onnxruntime-web (logits, contributions, heatmaps, bias)
 *   ->  boxes (src/pictures/strongest-region.ts), overlay and combined-view layers (src/pictures/*-layers.ts)
 *       drawn on a canvas  ->  the card (src/explain/card-html.ts) in the page's frame.
 *
 * Nothing is sent anywhere: the page's Content-Security-Policy allows requests to the site only.
 * For automation, `window.protolensSite` holds a promise of readiness and the last explanation's
 * numbers (see SiteHandle).
 */
import type { RgbImage } from '../../data/decode.ts';
import type { PreprocessConfig } from '../../data/preprocess-config.ts';
import { normalizeInto, toInputRgb } from '../../data/preprocess.ts';
import { renderCard, type CardData, type CardPrototype } from '../../explain/card-html.ts';
import { rankClasses, softmax } from '../../network/contributions.ts';
import { combinedLayers } from '../../pictures/combined-layers.ts';
import { pictureScale, type Layer } from '../../pictures/layers.ts';
import { overlayLayers } from '../../pictures/overlay-layers.ts';
import { strongestRegion } from '../../pictures/strongest-region.ts';
import { SITE_MODEL_FILE as MODEL_FILE, SITE_ORT_MODULE as ORT_MODULE, type SiteData } from '../site-data.ts';

/** The part of onnxruntime-web's API the app uses. */
interface OrtTensor {
  data: Float32Array | BigInt64Array;
  dims: readonly number[];
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface Ort {
  env: { wasm: { wasmPaths?: string; numThreads?: number; proxy?: boolean }; logLevel?: string };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
}

/** The numbers of the last explanation (what the card shows), for automation and tests. */
export interface SiteExplanation {
  file: string;
  /** Every logit, in class order. */
  logits: number[];
  probabilities: number[];
  predicted: number;
  explainedClass: number;
  selectedBy: 'predicted' | 'class';
  /** The explained class's prototype contributions, in prototype order. */
  contributions: number[];
  residual: number | null;
  bias: number;
  /** contributions + residual + bias - logit. */
  difference: number;
  /** Input size after preprocessing (width, height). */
  input: { width: number; height: number };
  /** Milliseconds: decode + preprocess, model run, pictures + card. */
  timings: { preprocess: number; model: number; render: number; total: number };
}

export interface SiteHandle {
  /** Resolves when the model is loaded (rejects with the reason it cannot be). */
  ready: Promise<{ loadMs: number; phases: { siteData: number; ortAndModelFetch: number; runtimeAndSession: number }; threads: number; ortVersion: string }>;
  last: SiteExplanation | null;
  /** The last image as the model saw it (8-bit RGB at the input size, before normalisation). */
  lastInput: RgbImage | null;
  /** Explain a file (as the form does); resolves with the numbers, rejects with the message shown. */
  explain(file: File, className?: string): Promise<SiteExplanation>;
}

declare global {
  interface Window {
    protolensSite: SiteHandle;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusEl = $('status');
const say = (text: string, error = false) => {
  statusEl.textContent = text;
  statusEl.className = error ? 'error' : '';
};
const fmt = (v: number) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4));

/** Decode a file to 8-bit RGB as the network's preprocessing says (orientation, alpha). */
async function decodeRgb(file: Blob, name: string, cfg: PreprocessConfig, maxPixels: number): Promise<RgbImage> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: cfg.exifOrientation ? 'from-image' : 'none', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch {
    throw new Error(`${name}: not an image this browser can decode`);
  }
  const { width, height } = bmp;
  if (width * height > maxPixels) {
    bmp.close();
    throw new Error(`${name}: image of ${width} x ${height} = ${width * height} pixels, more than the limit of ${maxPixels} pixels`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const rgb = new Uint8Array(width * height * 3);
  const bg = cfg.alpha === 'white' ? 255 : 0;
  for (let i = 0, n = width * height; i < n; i++) {
    const a = rgba[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i * 4 + c];
      rgb[i * 3 + c] = cfg.alpha === 'ignore' || a === 255 ? v : Math.round((v * a + bg * (255 - a)) / 255);
    }
  }
  return { data: rgb, width, height };
}

/** A data: URL of the SVG document as an image, decoded. */
async function svgImage(svg: string): Promise<HTMLImageElement> {
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  await img.decode();
  return img;
}

/**
 * Draw the image at outW x outH, lay the layers over it (alpha "over"), and below it `below` (an SVG
 * document, e.g. a legend); return a PNG data: URL. The canvas counterpart of pictures/image.ts.
 */
async function composePng(rgb: RgbImage, outW: number, outH: number, layers: readonly Layer[], below: { svg: string; width: number; height: number } | null = null): Promise<string> {
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(outW, below?.width ?? 0);
  canvas.height = outH + (below?.height ?? 0);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const base = new ImageData(rgb.width, rgb.height);
  for (let i = 0, n = rgb.width * rgb.height; i < n; i++) {
    base.data[i * 4] = rgb.data[i * 3];
    base.data[i * 4 + 1] = rgb.data[i * 3 + 1];
    base.data[i * 4 + 2] = rgb.data[i * 3 + 2];
    base.data[i * 4 + 3] = 255;
  }
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(await createImageBitmap(base), 0, 0, outW, outH);
  for (const l of layers) {
    if ('rgba' in l) ctx.drawImage(await createImageBitmap(new ImageData(Uint8ClampedArray.from(l.rgba), outW, outH)), 0, 0);
    else ctx.drawImage(await svgImage(l.svg), 0, 0);
  }
  if (below) ctx.drawImage(await svgImage(below.svg), 0, outH);
  return canvas.toDataURL('image/png');
}

const site = {} as SiteHandle;
site.last = null;
site.lastInput = null;
window.protolensSite = site;

let data: SiteData;
let ort: Ort;
let session: OrtSession;
let threads = 1;

site.ready = (async () => {
  // site.json, onnxruntime-web and the model are fetched at once (the page preloads the runtime's
  // module and wasm too); compiling the 14 MB wasm is most of the wait on a first visit.
  const t0 = performance.now();
  const dataP = fetch('site.json').then(async (res) => {
    if (!res.ok) throw new Error(`site.json: HTTP ${res.status}`);
    return (await res.json()) as SiteData;
  });
  const ortP = import(/* webpackIgnore: true */ new URL(ORT_MODULE, document.baseURI).href) as Promise<Ort>;
  const modelP = fetch(MODEL_FILE).then(async (res) => {
    if (!res.ok) throw new Error(`${MODEL_FILE}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  });
  data = await dataP;
  const t1 = performance.now();
  say(`Loading the model (${(data.model.bytes / 1e6).toFixed(1)} MB)\u2026`);
  ort = await ortP;
  ort.env.wasm.wasmPaths = new URL(data.ort.wasmPaths, document.baseURI).href;
  threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const model = await modelP;
  const t2 = performance.now();
  session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const t3 = performance.now();
  return { loadMs: t3 - t0, phases: { siteData: t1 - t0, ortAndModelFetch: t2 - t1, runtimeAndSession: t3 - t2 }, threads, ortVersion: data.ort.version };
})();

/** Explain one file: the numbers, and the card in the frame. */
async function explain(file: File, className?: string): Promise<SiteExplanation> {
  await site.ready;
  const t0 = performance.now();
  const C = data.classNames.length;
  const k = data.k;
  if (file.size > data.explain.maxFileBytes) throw new Error(`${file.name}: ${file.size} bytes, more than the limit of ${data.explain.maxFileBytes} bytes`);
  let chosen: number | null = null;
  if (className && className.trim() !== '') {
    chosen = data.classNames.indexOf(className.trim());
    if (chosen < 0) throw new Error(`class '${className.trim()}' is not a class of this network (pick one from the list)`);
  }
  // Images without a bounding box are used whole, as `protolens explain` does for bare paths.
  const cfg: PreprocessConfig = { ...data.preprocess, cropToBox: false };
  const src = await decodeRgb(file, file.name, cfg, data.explain.maxPixels);
  const { rgb } = await toInputRgb(src, { id: file.name, path: file.name }, cfg);
  const inp = data.model.input;
  const tensor = new Float32Array(3 * rgb.width * rgb.height);
  normalizeInto(rgb, cfg, tensor, 0);
  const t1 = performance.now();
  const dims = inp.layout === 'NCHW' ? [1, 3, inp.height, inp.width] : [1, inp.height, inp.width, 3];
  const out = await session.run({ [inp.name]: new ort.Tensor('float32', tensor, dims) });
  const t2 = performance.now();
  const names = data.model.outputs;
  const logits = Array.from(out[names.logits].data as Float32Array);
  const contributionsAll = out[names.contributions].data as Float32Array;
  const heatmaps = out[names.heatmaps].data as Float32Array;
  const bias = Array.from(out[names.bias].data as Float32Array);
  const residualAll = names.residualContribution ? (out[names.residualContribution].data as Float32Array) : null;
  const residualMaps = names.residualHeatmaps ? (out[names.residualHeatmaps].data as Float32Array) : null;
  for (const [what, v] of [['logits', logits], ['contributions', contributionsAll], ['heatmaps', heatmaps]] as const) {
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) throw new Error(`${file.name}: the model's ${what} hold a non-finite value (${v[i]}) at ${i}`);
  }
  const probabilities = Array.from(softmax(logits));
  const ranking = rankClasses(logits);
  const predicted = ranking[0];
  const c = chosen ?? predicted;
  // k 'auto': the class's own prototypes only (its count; the padded rows contribute exactly 0).
  const kc = data.prototypeCounts?.[c] ?? k;
  const contributions = Array.from(contributionsAll.subarray(c * k, c * k + kc));
  const residual = residualAll && residualAll[c] !== 0 ? residualAll[c] : null;
  const sum = contributions.reduce((a, b) => a + b, 0) + (residual ?? 0) + bias[c];
  const scaleAbs = Math.max(1, Math.abs(logits[c]), contributions.reduce((a, b) => a + Math.abs(b), 0) + Math.abs(residual ?? 0) + Math.abs(bias[c]));
  const difference = sum - logits[c];
  if (!(Math.abs(difference) <= data.explain.tolerance * scaleAbs)) {
    throw new Error(`${file.name}: contributions + bias = ${sum} but the logit of '${data.classNames[c]}' is ${logits[c]} (relative ${(Math.abs(difference) / scaleAbs).toExponential(2)} > ${data.explain.tolerance})`);
  }

  // Pictures, as the Node side draws them (src/explain/report.ts).
  const { height: mh, width: mw } = data.model.featureMap;
  const HW = mh * mw;
  const { width: w, height: h } = rgb;
  const pct = data.explain.percentile;
  const scale = pictureScale(w, h, 'auto');
  const protos: CardPrototype[] = [];
  const maps = new Float32Array(kc * HW);
  for (let i = 0; i < kc; i++) {
    const map = heatmaps.slice((c * k + i) * HW, (c * k + i + 1) * HW);
    maps.set(map, i * HW);
    const box = strongestRegion(map, mh, mw, w, h, pct);
    const o = overlayLayers(rgb.data, w, h, map, mh, mw, { box, percentile: pct, scale });
    protos.push({
      id: i,
      contribution: contributions[i],
      overlayPath: await composePng(rgb, o.width, o.height, o.layers),
      box,
      exemplars: (data.exemplars[c]?.[i] ?? []).map((e) => ({ path: e.crop, contextPath: e.context, sourceImage: e.image, score: e.score })),
    });
  }
  if (residual !== null && residualMaps) {
    const map = residualMaps.slice(c * HW, (c + 1) * HW);
    const box = strongestRegion(map, mh, mw, w, h, pct);
    const o = overlayLayers(rgb.data, w, h, map, mh, mw, { box, percentile: pct, scale });
    protos.push({ id: k, label: 'Residual term', contribution: residual, overlayPath: await composePng(rgb, o.width, o.height, o.layers), box, exemplars: [] });
  }
  const comb = combinedLayers(rgb.data, w, h, { data: maps, k: kc, height: mh, width: mw }, contributions, contributions.map((_, i) => `Prototype ${i}`), { scale });
  const card: CardData = {
    imagePath: await composePng(rgb, w, h, []),
    imageName: file.name,
    imageSize: { width: w, height: h },
    classNames: data.classNames,
    logits,
    probabilities,
    explainedClass: c,
    bias: bias[c],
    prototypes: protos,
    combinedViewPath: await composePng(rgb, comb.width, comb.height, [{ rgba: comb.rgba }], comb.legend),
    boxPercentile: pct,
    details: [
      ['model', data.model.source.name],
      ['model SHA-256', data.model.source.sha256],
      ['prototypes of this class', String(kc)],
      ['explained class', chosen === null ? 'the predicted class' : 'chosen in the page'],
      ['contributions + bias - logit', difference.toExponential(2)],
      ['computed', `in this browser: onnxruntime-web ${data.ort.version}, ${threads} thread${threads === 1 ? '' : 's'}`],
    ],
  };
  const frame = $<HTMLIFrameElement>('card');
  frame.srcdoc = renderCard(card, { topK: data.explain.top, tolerance: data.explain.tolerance * scaleAbs });
  frame.classList.add('shown');
  frame.title = `Explanation card of ${file.name}`;
  const t3 = performance.now();
  const result: SiteExplanation = {
    file: file.name,
    logits,
    probabilities,
    predicted,
    explainedClass: c,
    selectedBy: chosen === null ? 'predicted' : 'class',
    contributions,
    residual,
    bias: bias[c],
    difference,
    input: { width: w, height: h },
    timings: { preprocess: t1 - t0, model: t2 - t1, render: t3 - t2, total: t3 - t0 },
  };
  site.last = result;
  site.lastInput = rgb;
  const parts = contributions.map(fmt).join(' + ');
  say(
    `${file.name}: ${data.classNames[c]} (rank ${ranking.indexOf(c) + 1}, p = ${(100 * probabilities[c]).toFixed(1)}%). ` +
      `Logit ${fmt(logits[c])} = ${parts}${residual !== null ? ` + ${fmt(residual)} (residual)` : ''} + ${fmt(bias[c])} (bias). ` +
      `${Math.round(result.timings.total)} ms in this browser.`,
  );
  return result;
}

site.explain = async (file, className) => {
  say(`Explaining ${file.name} \u2026`);
  try {
    return await explain(file, className);
  } catch (e) {
    say(String((e as Error).message ?? e), true);
    throw e;
  }
};

// The card is a srcdoc document whose relative URLs resolve against this page, so its in-card links
// (#proto-N) would load this page into the frame: they scroll inside the card instead.
$<HTMLIFrameElement>('card').addEventListener('load', (ev) => {
  const doc = (ev.target as HTMLIFrameElement).contentDocument;
  doc?.addEventListener('click', (e) => {
    const a = (e.target as Element | null)?.closest?.('a[href^="#"]');
    if (!a) return;
    e.preventDefault();
    doc.getElementById(decodeURIComponent(a.getAttribute('href')!.slice(1)))?.scrollIntoView();
  });
});

const form = $<HTMLFormElement>('explain-form');
const input = $<HTMLInputElement>('file');
const classInput = $<HTMLInputElement>('class');
const drop = $('drop');
const run = (f: File | undefined) => {
  if (!f) {
    say('Choose an image first.', true);
    return;
  }
  site.explain(f, classInput.value).catch(() => undefined);
};
form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  run(input.files?.[0]);
});
input.addEventListener('change', () => {
  if (input.files?.[0]) run(input.files[0]);
});
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  run(ev.dataTransfer?.files[0]);
});

site.ready.then(
  (r) => {
    (form.querySelector('button[type=submit]') as HTMLButtonElement).disabled = false;
    say(`Ready (model loaded in ${Math.round(r.loadMs)} ms, ${r.threads} thread${r.threads === 1 ? '' : 's'}): pick or drop an image.`);
  },
  (e) => say(`The model could not be loaded: ${String((e as Error).message ?? e)}`, true),
);
