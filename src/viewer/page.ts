/**
 * The viewer's single page: the class gallery (the demo page's gallery, rendered from the network's
 * manifest and exemplar index) with a class filter and each class's build diagnostics, and the
 * explain form that uploads an image to POST /api/explain and shows the returned card in a frame.
 * Self-contained: inline CSS and script, no external resources.
 */
import { classPrototypesHtml, gallerySection, LAZY_GALLERY_CLASSES, LAZY_GALLERY_SCRIPT, PROTOTYPE_BLOCK_CSS } from '../html/gallery.ts';
import { esc, num } from '../html/format.ts';
import type { PageClass, PageSanity } from '../html/page-data.ts';
import { sanitySection } from '../html/sanity-section.ts';

/** What the page shows. */
export interface ViewerPageData {
  title: string;
  /** Network folder as shown to the user. */
  networkLabel: string;
  k: number;
  perPrototype: number;
  classes: readonly PageClass[];
  /** Largest accepted upload in bytes. */
  maxUploadBytes: number;
  /**
   * Where explanations are computed: absent (the viewer) posts the image to api/explain; given (a
   * static site, src/site/), the model runs in the page: `app` is the module script that does it,
   * `preloadModules` and `preloadFetches` start loading with the page, and a Content-Security-Policy
   * keeps every request inside the site. Paths are relative to the page.
   */
  site?: { app: string; preloadModules: readonly string[]; preloadFetches: readonly string[] };
  /** A model-randomisation sanity check of the network, shown after the gallery (`view --sanity`). */
  sanity?: PageSanity | null;
}

/** "k = 3 prototypes per class", or with k 'auto' the range the classes have. */
function prototypesPerClass(d: ViewerPageData): string {
  const counts = d.classes.map((c) => c.prototypes.length);
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  return counts.length === 0 || lo === hi ? `k = ${d.k} prototypes per class` : `${lo}-${hi} prototypes per class (k chosen per class)`;
}

const CSS = `
:root { --ink: #1b1f24; --sub: #59636e; --line: #d8dee4; --soft: #f5f7f9; --accent: #0b5cad; --ok: #1a7f37; --bad: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: var(--ink); }
header.top { background: #0b3d6b; color: #fff; padding: 14px 24px; }
header.top h1 { margin: 0; font-size: 1.35rem; }
header.top p { margin: 2px 0 0; color: #e3eefa; font-size: 0.9rem; word-break: break-all; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 24px 48px; }
table.sets { border-collapse: collapse; margin: 8px 0 16px; }
table.sets th, table.sets td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; }
table.sets td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok-note { color: var(--ok); } .note { color: var(--bad); }
h2 { margin: 24px 0 4px; }
.lead { color: var(--sub); max-width: 980px; margin-top: 4px; }
#explain-form { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
#drop { border: 2px dashed var(--line); border-radius: 8px; padding: 16px; margin-top: 8px; }
#drop.over { border-color: var(--accent); background: #eef5fd; }
#status { margin: 8px 0; font-variant-numeric: tabular-nums; }
#status.error { color: var(--bad); font-weight: 600; }
#card { width: 100%; height: 900px; border: 1px solid var(--line); border-radius: 6px; display: none; }
#card.shown { display: block; }
.filter { display: flex; gap: 12px; align-items: center; margin: 8px 0; }
.filter input { font: inherit; padding: 4px 8px; min-width: 280px; }
.gallery { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; margin-top: 12px; }
.cls { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; }
.cls[hidden] { display: none; }
.cls header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 2px 8px; }
.cls h3 { margin: 0; font-size: 1.02rem; }
.cid { color: var(--sub); font-weight: 400; font-variant-numeric: tabular-nums; }
.diag { color: var(--sub); font-size: 0.8rem; white-space: nowrap; }
${PROTOTYPE_BLOCK_CSS}
.none { color: var(--sub); font-style: italic; }
@media (max-width: 1100px) { .gallery { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@media (max-width: 760px) { .gallery { grid-template-columns: 1fr; } }
`;

// The class filter (both modes).
const FILTER_SCRIPT = `
(() => {
  const q = document.getElementById('filter');
  const count = document.getElementById('filter-count');
  const cards = Array.from(document.querySelectorAll('.gallery .cls'));
  const names = cards.map((c) => (c.querySelector('h3')?.textContent ?? '').toLowerCase());
  const applyFilter = () => {
    const t = q.value.trim().toLowerCase();
    let shown = 0;
    cards.forEach((c, i) => { const hit = t === '' || names[i].includes(t); c.hidden = !hit; if (hit) shown++; });
    count.textContent = shown + ' of ' + cards.length + ' classes';
  };
  q.addEventListener('input', applyFilter);
  applyFilter();
})();
`;

// Upload (form or drop) to /api/explain: the server mode's explain form.
const SERVER_EXPLAIN_SCRIPT = `
(() => {
  const form = document.getElementById('explain-form');
  const input = document.getElementById('file');
  const status = document.getElementById('status');
  const frame = document.getElementById('card');
  const drop = document.getElementById('drop');
  const say = (text, error) => { status.textContent = text; status.className = error ? 'error' : ''; };
  const fmt = (v) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4));
  async function explain(file) {
    if (!file) { say('Choose an image first.', true); return; }
    say('Explaining ' + file.name + ' \\u2026', false);
    let res, body;
    try {
      const headers = { 'Content-Type': 'application/octet-stream', 'X-File-Name': encodeURIComponent(file.name) };
      const cls = document.getElementById('class').value.trim();
      if (cls) headers['X-Class'] = encodeURIComponent(cls);
      res = await fetch('api/explain', { method: 'POST', headers, body: file });
      body = await res.json();
    } catch (e) { say('The request failed: ' + e, true); return; }
    if (!res.ok) { say(file.name + ': ' + (body && body.error ? body.error : 'HTTP ' + res.status), true); return; }
    const e = body.entry.explained;
    const parts = e.prototypes.map((p) => fmt(p.contribution)).join(' + ');
    say(file.name + ': ' + e.name + ' (rank ' + e.rank + ', p = ' + (100 * e.probability).toFixed(1) + '%). Logit ' + fmt(e.logit) + ' = ' + parts + (e.residual ? ' + ' + fmt(e.residual.contribution) + ' (residual)' : '') + ' + ' + fmt(e.bias) + ' (bias).', false);
    frame.src = body.card;
    frame.classList.add('shown');
    frame.title = 'Explanation card of ' + file.name;
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); explain(input.files && input.files[0]); });
  input.addEventListener('change', () => { if (input.files && input.files[0]) explain(input.files[0]); });
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => { ev.preventDefault(); drop.classList.remove('over'); const f = ev.dataTransfer && ev.dataTransfer.files[0]; if (f) explain(f); });
})();
`;

/** One line of a class's build diagnostics: NMF relative error, mean part fidelity, training images. */
export function classDiagnosticsLine(c: PageClass): string {
  const d = c.diagnostics;
  return (
    `<span class="diag" data-class="${c.index}">` +
    `<span title="relative Frobenius error of the class's NMF">NMF error ${num(d.nmfRelError, 4)}</span><span class="dot">\u00b7</span>` +
    `<span title="mean over prototypes of the part fidelity">fidelity ${num(d.meanPartFidelity, 3)}</span><span class="dot">\u00b7</span>` +
    `<span title="training images whose features built the prototypes">${c.trainImages} images</span>` +
    (c.distinctiveness !== null ? `<span class="dot">\u00b7</span><span title="distinctiveness (PNP): 100 x (1 - mean overlap of the boxes around each pair of the class's prototype peaks), from the evaluation">distinct ${num(c.distinctiveness, 1)}</span>` : '') +
    (c.comprehensiveness !== null ? `<span class="dot">\u00b7</span><span title="comprehensiveness (PNP): overlap (IoU, %) of the prototypes' strong regions with the object's mask, from the evaluation">on object ${num(c.comprehensiveness, 1)}</span>` : '') +
    `</span>`
  );
}

/** Whether the page loads each class's prototypes as a fragment (more than LAZY_GALLERY_CLASSES classes). */
export const lazyGallery = (classes: readonly PageClass[]): boolean => classes.length > LAZY_GALLERY_CLASSES;

/** URL (relative to the page) of a class's gallery fragment: the viewer serves it, the site writes it. */
export const galleryFragmentPath = (c: PageClass): string => `gallery/${c.index}.html`;

/** A class's gallery fragment: its prototype blocks, images loaded lazily. */
export function galleryFragment(c: PageClass): string {
  return classPrototypesHtml(c).replace(/<img /g, '<img loading="lazy" ');
}

/**
 * The gallery of every class, with each class's diagnostics line where the demo page shows test
 * accuracy (the viewer has no test pass), and images loaded lazily; beyond LAZY_GALLERY_CLASSES
 * classes, each class's prototypes load as a fragment when the class comes into view.
 */
export function viewerGallery(classes: readonly PageClass[], k: number, perPrototype: number): string {
  const lazy = lazyGallery(classes) ? { fragment: galleryFragmentPath } : null;
  return gallerySection(classes, k, perPrototype, null, classDiagnosticsLine, lazy).replace(/<img /g, '<img loading="lazy" ');
}

// Site mode, opened as file://: browsers do not run module scripts or fetch files from file:// pages
// (Chromium refuses both), so the page says how to serve the folder instead of waiting forever.
const FILE_URL_SCRIPT = `
(() => {
  if (location.protocol !== 'file:') return;
  const status = document.getElementById('status');
  status.className = 'error';
  status.textContent = 'This page was opened as a file. Browsers do not load the model from file:// pages; serve this folder over HTTP instead, e.g. "npx http-server <folder>" or "python3 -m http.server -d <folder>", and open the address it prints. Any static web host works too.';
})();
`;

/**
 * The site mode's Content-Security-Policy: scripts, the model, onnxruntime's wasm and exemplar
 * pictures only from the site itself (plus data: and blob: URLs the page makes); nothing else loads.
 */
export const SITE_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data: blob:; connect-src 'self' data: blob:; worker-src 'self' blob:; frame-src 'self' about:; form-action 'none'; base-uri 'self'";

/** Site mode: the app, the runtime's module and the fetched files start loading with the page. */
function sitePreloads(s: NonNullable<ViewerPageData['site']>): string {
  return [
    ...[s.app, ...s.preloadModules].map((m) => `<link rel="modulepreload" href="${esc(m)}">`),
    ...s.preloadFetches.map((f) => `<link rel="preload" href="${esc(f)}" as="fetch"${f.endsWith('.wasm') ? ' type="application/wasm"' : ''} crossorigin>`),
  ].join('\n');
}

/** The page as one HTML document. */
export function renderViewerPage(d: ViewerPageData): string {
  const mb = (d.maxUploadBytes / (1024 * 1024)).toFixed(0);
  const site = d.site !== undefined;
  const lead = site
    ? `The image is explained here, in this browser: it is decoded and preprocessed as the network records, run once through the explained model (onnxruntime-web), and never sent anywhere. The logit of the predicted class (or the class you name) is split into one contribution per prototype plus the bias, and the card shows where each prototype fires and its closest training patches. PNG, JPEG, GIF or WebP, up to ${mb} MB.`
    : `The image is run through the model once; the logit of the predicted class is split into one contribution per prototype plus the bias, and the card shows where each prototype fires and its closest training patches. PNG, JPEG, GIF, WebP or TIFF, up to ${mb} MB.`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
${d.site ? `<meta http-equiv="Content-Security-Policy" content="${esc(SITE_CSP)}">\n${sitePreloads(d.site)}\n` : ''}<title>${esc(d.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top"><h1>${esc(d.title)}</h1><p>${esc(d.networkLabel)} \u00b7 ${d.classes.length} classes \u00b7 ${prototypesPerClass(d)}</p></header>
<main>
<section id="explain" aria-labelledby="explain-h">
<h2 id="explain-h">Explain an image</h2>
<p class="lead">${lead}</p>
<div id="drop">
<form id="explain-form"${site ? '' : ' action="api/explain" method="post"'}>
<label for="file">Image</label> <input type="file" id="file" name="file" accept="image/*">
<label for="class">Class</label> <input type="text" id="class" name="class" list="class-names" placeholder="predicted" autocomplete="off">
<datalist id="class-names">${d.classes.map((c) => `<option value="${esc(c.name)}"></option>`).join('')}</datalist>
<button type="submit"${site ? ' disabled' : ''}>Explain</button>
<span>or drop an image here</span>
</form>
</div>
<p id="status" role="status" aria-live="polite">${site ? 'Loading the model\u2026' : ''}</p>
<iframe id="card" title="Explanation card"></iframe>
</section>
<div class="filter"><label for="filter">Filter classes</label> <input type="search" id="filter" placeholder="part of a class name" autocomplete="off"> <span id="filter-count"></span></div>
${viewerGallery(d.classes, d.k, d.perPrototype)}
${d.sanity ? sanitySection(d.sanity) : ''}
</main>
<script>${FILTER_SCRIPT}</script>
${lazyGallery(d.classes) ? `<script>${LAZY_GALLERY_SCRIPT}</script>` : ''}
${d.site ? `<script>${FILE_URL_SCRIPT}</script>\n<script type="module" src="${esc(d.site.app)}"></script>` : `<script>${SERVER_EXPLAIN_SCRIPT}</script>`}
</body>
</html>
`;
}
