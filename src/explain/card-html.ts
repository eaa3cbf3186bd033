/**
 * The explanation card: one self-contained HTML page per image showing the image, the prediction, how
 * the explained class's logit splits into per-prototype contributions plus bias, and for every
 * prototype its overlay (where) and its exemplar patches from training images (what).
 *
 * The page loads nothing from outside: inline CSS, inline SVG bars, no scripts, no web fonts. Images
 * are linked by paths relative to the card, or embedded as data: URIs (`inlineCardImages`,
 * `writeCard({ inline: true })` in card.ts). All text is HTML-escaped. No Node import: the browser
 * (src/site/browser/) renders the same card from the same code.
 */
import { CheckError, InputError } from '../util/errors.ts';
import type { Box } from '../pictures/percentile.ts';

/** One exemplar patch of a prototype: a crop of a training image that activates it strongly. */
export interface CardExemplar {
  /** The patch picture (PNG from `crop`): a path relative to the card, or a data:image URI. */
  path: string;
  /** The training image the patch was cut from, as shown to readers (e.g. its dataset-relative path). */
  sourceImage: string;
  /** How strongly the patch activates the prototype (e.g. the maximum of its map on that image). */
  score: number;
  /** Optional context picture (`boxOnImage`): relative path or data:image URI; the patch links to it. */
  contextPath?: string;
}

/** One prototype of the explained class, on this image. */
export interface CardPrototype {
  /** Prototype index within its class (0-based, as in the network artifact). */
  id: number;
  /** Display name; default `Prototype ${id}`. */
  label?: string;
  /** Contribution to the explained class's logit: the mean of its heatmap on this image. */
  contribution: number;
  /** The overlay picture (PNG from `overlay`): relative path or data:image URI. */
  overlayPath: string;
  /** The high-activation box drawn on the overlay, in image pixels. */
  box: Box;
  /** Exemplar patches, best first (may be empty). */
  exemplars: readonly CardExemplar[];
}

/** Everything a card shows. Paths are relative to the card's folder (or data:image URIs). */
export interface CardData {
  /** The input image as the model saw it: relative path or data:image URI. */
  imagePath: string;
  /** Name shown for the image; default the last segment of `imagePath`. */
  imageName?: string;
  /** Pixel size of the input image (sets width/height attributes so the layout does not shift). */
  imageSize?: { width: number; height: number };
  /** Class names, one per logit. */
  classNames: readonly string[];
  /** The model's logits for this image, one per class. */
  logits: ArrayLike<number>;
  /** The model's class probabilities (softmax of the logits), one per class. */
  probabilities: ArrayLike<number>;
  /** Index of the explained class (usually the predicted one). */
  explainedClass: number;
  /** Bias of the explained class (its own term of the logit). */
  bias: number;
  /** The explained class's prototypes; contributions + bias must equal its logit. */
  prototypes: readonly CardPrototype[];
  /** Optional combined view (`combinedView`): relative path or data:image URI. */
  combinedViewPath?: string;
  /** Percentile of the overlay boxes, for the captions; default 95. */
  boxPercentile?: number;
  /** Extra facts for the footer, e.g. [['model', 'resnet20.onnx'], ['seed', '0']]. */
  details?: readonly (readonly [string, string])[];
}

/** Options of `renderCard`. */
export interface CardOptions {
  /** Number of top classes listed; default 5 (the explained class is always listed). */
  topK?: number;
  /** Page title; default `<explained class> – <image name>`. */
  title?: string;
  /**
   * Largest accepted |sum of contributions + bias - logit|; default 1e-3 x max(1, |logit|,
   * sum of |contributions|). A larger gap is a CheckError: the card would misstate the model.
   */
  tolerance?: number;
}

/** Escape text for HTML content and double- or single-quoted attribute values. */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const DATA_URI = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+=*$/;

/**
 * A picture reference as it goes into src/href: data:image URIs unchanged; relative paths with each
 * segment percent-encoded. Anything that would load from elsewhere (URLs, absolute paths) is refused.
 */
export function pictureUrl(p: unknown, field: string): string {
  if (typeof p !== 'string' || p.length === 0) throw new InputError(`card: ${field} must be a non-empty path relative to the card or a data:image URI, got ${JSON.stringify(p)}`);
  if (/^data:/i.test(p)) {
    if (!DATA_URI.test(p)) throw new InputError(`card: ${field} is a data: URI but not base64 PNG, JPEG, GIF or WebP`);
    return p;
  }
  const path = p.replace(/\\/g, '/');
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith('/')) {
    throw new InputError(`card: ${field} '${p}' must be a path relative to the card's folder (or a data:image URI); URLs and absolute paths would make the card depend on other locations`);
  }
  return path.split('/').map(encodeURIComponent).join('/');
}

function finite(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`card: ${field} must be a finite number, got ${v}`);
  return v;
}

/** Fixed-point for moderate values, scientific for very large or small ones. */
function fmt(v: number, digits = 3): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const s = a >= 1e5 || a < 10 ** -digits ? v.toExponential(digits - 1) : v.toFixed(digits);
  return s.replace('-', '\u2212');
}
const signed = (v: number, digits = 3) => (v > 0 ? '+' : v < 0 ? '' : '\u00b1') + fmt(v, digits);

function percent(p: number): string {
  if (p > 0 && p < 0.001) return '<0.1%';
  return `${(100 * p).toFixed(1)}%`;
}

function baseName(p: string): string {
  if (/^data:/i.test(p)) return 'input image';
  const parts = p.replace(/\\/g, '/').split('/').filter(Boolean);
  return parts[parts.length - 1] ?? p;
}

export function validateCard(d: CardData): void {
  if (!d || typeof d !== 'object') throw new InputError('card: expected a CardData object');
  const C = d.classNames?.length;
  if (!Number.isInteger(C) || C < 1) throw new InputError('card: classNames must list at least one class');
  d.classNames.forEach((n, i) => {
    if (typeof n !== 'string') throw new InputError(`card: classNames[${i}] must be a string`);
  });
  if (d.logits?.length !== C) throw new InputError(`card: logits has ${d.logits?.length} values, expected one per class (${C})`);
  if (d.probabilities?.length !== C) throw new InputError(`card: probabilities has ${d.probabilities?.length} values, expected one per class (${C})`);
  for (let i = 0; i < C; i++) {
    finite(d.logits[i], `logits[${i}]`);
    const p = finite(d.probabilities[i], `probabilities[${i}]`);
    if (p < -1e-6 || p > 1 + 1e-6) throw new InputError(`card: probabilities[${i}] = ${p} is not in [0, 1]`);
  }
  if (!Number.isInteger(d.explainedClass) || d.explainedClass < 0 || d.explainedClass >= C) {
    throw new InputError(`card: explainedClass must be a class index in [0, ${C - 1}], got ${d.explainedClass}`);
  }
  finite(d.bias, 'bias');
  if (!Array.isArray(d.prototypes) || d.prototypes.length === 0) throw new InputError('card: prototypes must list at least one prototype');
  const ids = new Set<number>();
  d.prototypes.forEach((p, i) => {
    const f = `prototypes[${i}]`;
    if (!Number.isInteger(p.id) || p.id < 0) throw new InputError(`card: ${f}.id must be a non-negative integer, got ${p.id}`);
    if (ids.has(p.id)) throw new InputError(`card: ${f}.id ${p.id} appears twice`);
    ids.add(p.id);
    finite(p.contribution, `${f}.contribution`);
    const b = p.box;
    if (!b || ![b.x, b.y, b.width, b.height].every(Number.isInteger) || b.width < 1 || b.height < 1 || b.x < 0 || b.y < 0) {
      throw new InputError(`card: ${f}.box must have integer x, y >= 0 and width, height >= 1, got ${JSON.stringify(b)}`);
    }
    if (!Array.isArray(p.exemplars)) throw new InputError(`card: ${f}.exemplars must be a list (possibly empty)`);
    (p.exemplars as readonly CardExemplar[]).forEach((e, j) => {
      finite(e.score, `${f}.exemplars[${j}].score`);
      if (typeof e.sourceImage !== 'string') throw new InputError(`card: ${f}.exemplars[${j}].sourceImage must be a string`);
    });
  });
  if (d.imageSize) {
    const { width, height } = d.imageSize;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new InputError(`card: imageSize must be positive integers, got ${JSON.stringify(d.imageSize)}`);
  }
}

const CSS = `
:root { color-scheme: light; --pos: #0072b2; --neg: #d55e00; --bias: #6b6b6b; --ink: #1a1a1a; --muted: #555; --line: #d9d9d9; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink); font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 1.1rem; margin: 0 0 8px; }
h4 { font-size: 1rem; margin: 0 0 6px; }
.sub { color: var(--muted); margin: 0; word-break: break-all; }
.top { display: grid; grid-template-columns: 280px 280px minmax(0, 1fr); gap: 24px; align-items: start; margin-top: 16px; }
.top.no-combined { grid-template-columns: 280px minmax(0, 1fr); }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.875rem; color: var(--muted); margin-top: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.explained td { background: #eef5fb; font-weight: 600; }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 600; border: 1px solid currentColor; border-radius: 3px; padding: 0 4px; margin-left: 6px; color: var(--muted); }
.cname { word-break: break-word; }
.bar svg { display: block; }
.pos-text { color: var(--pos); }
.neg-text { color: var(--neg); }
.eq { margin: 8px 0 0; font-variant-numeric: tabular-nums; }
.proto { display: grid; grid-template-columns: 280px minmax(0, 1fr); gap: 24px; padding: 16px 0; border-bottom: 1px solid var(--line); }
.exemplars ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 12px; }
.exemplars li { width: 136px; }
.exemplars img { width: 136px; height: 136px; object-fit: contain; background: #f4f4f4; }
.exemplars figcaption { word-break: break-all; }
.none { color: var(--muted); font-style: italic; }
footer { margin-top: 28px; font-size: 0.875rem; color: var(--muted); }
footer dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 12px; margin: 8px 0 0; }
footer dt { font-weight: 600; }
footer dd { margin: 0; word-break: break-all; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 900px) { .top, .top.no-combined, .proto { grid-template-columns: minmax(0, 1fr); } figure { max-width: 320px; } }
@media print {
  @page { margin: 12mm; }
  body { font-size: 10pt; }
  main { max-width: none; padding: 0; }
  .top { grid-template-columns: 180px 180px minmax(0, 1fr); gap: 12px; }
  .top.no-combined { grid-template-columns: 180px minmax(0, 1fr); }
  .proto { grid-template-columns: 180px minmax(0, 1fr); gap: 12px; padding: 10px 0; }
  figure { max-width: none; }
  .exemplars li { width: 100px; }
  .exemplars img { width: 100px; height: 100px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .proto, .top, table { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;

const BAR_W = 260;
const BAR_H = 18;

/** A diverging bar: positive values right of the zero line (solid blue), negative left (hatched vermillion). */
function barSvg(v: number, maxAbs: number, kind: 'proto' | 'bias'): string {
  const mid = BAR_W / 2;
  const len = maxAbs > 0 ? (Math.abs(v) / maxAbs) * (mid - 4) : 0;
  const x = v >= 0 ? mid : mid - len;
  const fill = kind === 'bias' ? 'var(--bias)' : v >= 0 ? 'var(--pos)' : 'url(#neg-hatch)';
  const stroke = kind === 'bias' ? '' : v >= 0 ? '' : ' stroke="#d55e00" stroke-width="1"';
  return (
    `<svg width="${BAR_W}" height="${BAR_H}" viewBox="0 0 ${BAR_W} ${BAR_H}" aria-hidden="true" focusable="false">` +
    `<rect x="${x.toFixed(1)}" y="3" width="${len.toFixed(1)}" height="${BAR_H - 6}" fill="${fill}"${stroke}/>` +
    `<line x1="${mid}" y1="0" x2="${mid}" y2="${BAR_H}" stroke="#333" stroke-width="1"/></svg>`
  );
}

const HATCH_DEFS =
  '<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false"><defs>' +
  '<pattern id="neg-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
  '<rect width="6" height="6" fill="#d55e00"/><rect width="2.5" height="6" fill="#f6c8a8"/></pattern></defs></svg>';

/**
 * The card as one HTML document (UTF-8). Validates `data` first.
 * @throws InputError on missing or inconsistent fields (named), or picture references that are not
 *   relative paths or data:image URIs; CheckError when contributions + bias differ from the logit.
 */
export function renderCard(data: CardData, options: CardOptions = {}): string {
  validateCard(data);
  const c = data.explainedClass;
  const names = data.classNames;
  const logit = data.logits[c];
  const cname = names[c];
  const protos = data.prototypes;
  const sum = protos.reduce((a, p) => a + p.contribution, 0);
  const sumAbs = protos.reduce((a, p) => a + Math.abs(p.contribution), 0);
  const tol = options.tolerance ?? 1e-3 * Math.max(1, Math.abs(logit), sumAbs);
  const gap = sum + data.bias - logit;
  if (!(Math.abs(gap) <= tol)) {
    throw new CheckError(
      `card: contributions of class '${cname}' sum to ${sum} and with bias ${data.bias} give ${sum + data.bias}, but its logit is ${logit} (difference ${gap}, tolerance ${tol}); the decomposition must be exact`,
    );
  }
  const topK = options.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw new InputError(`card: topK must be a positive integer, got ${topK}`);
  const pct = data.boxPercentile ?? 95;
  const imageName = data.imageName ?? baseName(data.imagePath);
  const title = options.title ?? `${cname} \u2013 ${imageName}`;
  const imgUrl = pictureUrl(data.imagePath, 'imagePath');
  const combinedUrl = data.combinedViewPath === undefined ? null : pictureUrl(data.combinedViewPath, 'combinedViewPath');
  const sizeAttr = data.imageSize ? ` width="${data.imageSize.width}" height="${data.imageSize.height}"` : '';

  // Prediction table.
  const C = names.length;
  const order = Array.from({ length: C }, (_, i) => i).sort((a, b) => data.logits[b] - data.logits[a] || a - b);
  const predicted = order[0];
  const shown = order.slice(0, topK);
  const explainedRank = order.indexOf(c);
  const row = (i: number) => {
    const badges = (i === predicted ? '<span class="badge">predicted</span>' : '') + (i === c ? '<span class="badge">explained</span>' : '');
    return (
      `<tr${i === c ? ' class="explained"' : ''}><td class="num">${order.indexOf(i) + 1}</td><td class="cname">${escapeHtml(names[i])}${badges}</td>` +
      `<td class="num">${fmt(data.logits[i])}</td><td class="num">${percent(data.probabilities[i])}</td></tr>`
    );
  };
  let predRows = shown.map(row).join('\n');
  if (explainedRank >= topK) predRows += `\n<tr><td class="num">\u2026</td><td colspan="3"></td></tr>\n${row(c)}`;

  // Decomposition table.
  const maxAbs = Math.max(Math.abs(data.bias), ...protos.map((p) => Math.abs(p.contribution)));
  const share = (v: number) => (Math.abs(logit) > 1e-9 ? `${((100 * v) / logit).toFixed(1).replace('-', '\u2212')}%` : 'n/a');
  const label = (p: CardPrototype) => p.label ?? `Prototype ${p.id}`;
  const decompRows = protos
    .map((p) => {
      const cls = p.contribution >= 0 ? 'pos-text' : 'neg-text';
      const dir = p.contribution >= 0 ? 'for' : 'against';
      return (
        `<tr><th scope="row"><a href="#proto-${p.id}">${escapeHtml(label(p))}</a></th>` +
        `<td class="num ${cls}">${signed(p.contribution)} <span class="sr">(${dir} ${escapeHtml(cname)})</span></td>` +
        `<td class="num">${share(p.contribution)}</td><td class="bar">${barSvg(p.contribution, maxAbs, 'proto')}</td></tr>`
      );
    })
    .join('\n');
  const biasRow = `<tr><th scope="row">Bias</th><td class="num">${signed(data.bias)}</td><td class="num">${share(data.bias)}</td><td class="bar">${barSvg(data.bias, maxAbs, 'bias')}</td></tr>`;
  const totalRow = `<tr><th scope="row">Logit</th><td class="num"><strong>${fmt(logit)}</strong></td><td class="num">100%</td><td></td></tr>`;

  // Prototype sections.
  const protoSections = protos
    .map((p) => {
      const b = p.box;
      const boxText = `x ${b.x}\u2013${b.x + b.width - 1}, y ${b.y}\u2013${b.y + b.height - 1} (${b.width} \u00d7 ${b.height} px)`;
      const overlayUrl = pictureUrl(p.overlayPath, `prototypes[${protos.indexOf(p)}].overlayPath`);
      const alt = `Heatmap of ${label(p)} over the input image; its strongest region (pixels at or above the ${pct}th percentile) is boxed at ${boxText}.`;
      const exemplars =
        p.exemplars.length === 0
          ? '<p class="none">No exemplar patches recorded.</p>'
          : '<ul>' +
            p.exemplars
              .map((e, j) => {
                const f = `prototypes[${protos.indexOf(p)}].exemplars[${j}]`;
                const img = `<img src="${escapeHtml(pictureUrl(e.path, `${f}.path`))}" alt="${escapeHtml(`Training patch ${j + 1} of ${label(p)}, from ${e.sourceImage}, score ${fmt(e.score)}`)}">`;
                const linked = e.contextPath === undefined ? img : `<a href="${escapeHtml(pictureUrl(e.contextPath, `${f}.contextPath`))}">${img}</a>`;
                return `<li><figure>${linked}<figcaption>${escapeHtml(e.sourceImage)}<br>score ${fmt(e.score)}</figcaption></figure></li>`;
              })
              .join('') +
            '</ul>';
      const cls = p.contribution >= 0 ? 'pos-text' : 'neg-text';
      return (
        `<article class="proto" id="proto-${p.id}" aria-labelledby="proto-${p.id}-h">\n` +
        `<figure><img src="${escapeHtml(overlayUrl)}" alt="${escapeHtml(alt)}"${sizeAttr}><figcaption>Where: heatmap, box of the ${pct}th percentile at ${escapeHtml(boxText)}</figcaption></figure>\n` +
        `<div><h3 id="proto-${p.id}-h">${escapeHtml(label(p))} <span class="${cls}">${signed(p.contribution)}</span> <small>(${share(p.contribution)} of the logit)</small></h3>\n` +
        `<div class="exemplars"><h4>What: closest training patches</h4>${exemplars}</div></div>\n</article>`
      );
    })
    .join('\n');

  const details = (data.details ?? []).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('');
  const combinedFigure = combinedUrl
    ? `<figure><img src="${escapeHtml(combinedUrl)}" alt="${escapeHtml(`Combined view: each pixel coloured by its strongest prototype of ${cname}, with a legend of colours and contributions.`)}"><figcaption>Combined view</figcaption></figure>`
    : '';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${HATCH_DEFS}
<main>
<header>
<h1>Why \u201c${escapeHtml(cname)}\u201d?</h1>
<p class="sub">${escapeHtml(imageName)}</p>
</header>
<section class="top${combinedUrl ? '' : ' no-combined'}" aria-label="Image and prediction">
<figure><img src="${escapeHtml(imgUrl)}" alt="${escapeHtml(`Input image ${imageName}`)}"${sizeAttr}><figcaption>Input image</figcaption></figure>
${combinedFigure}
<div>
<h2>Prediction</h2>
<table>
<caption class="sr">Top ${Math.min(topK, C)} classes by logit</caption>
<thead><tr><th class="num" scope="col">Rank</th><th scope="col">Class</th><th class="num" scope="col">Logit</th><th class="num" scope="col">Probability</th></tr></thead>
<tbody>
${predRows}
</tbody>
</table>
</div>
</section>
<section aria-labelledby="decomp-h">
<h2 id="decomp-h">How the logit of \u201c${escapeHtml(cname)}\u201d splits</h2>
<table>
<caption class="sr">Contribution of each prototype and the bias; bars: blue solid to the right supports the class, vermillion hatched to the left opposes it</caption>
<thead><tr><th scope="col">Term</th><th class="num" scope="col">Contribution</th><th class="num" scope="col">Share of logit</th><th scope="col"><span class="sr">Bar</span></th></tr></thead>
<tbody>
${decompRows}
${biasRow}
${totalRow}
</tbody>
</table>
<p class="eq">Sum of contributions ${fmt(sum)} + bias ${fmt(data.bias)} = ${fmt(sum + data.bias)}; logit ${fmt(logit)} (difference ${gap === 0 ? '0' : gap.toExponential(1).replace('-', '\u2212')}).</p>
</section>
<section aria-labelledby="protos-h">
<h2 id="protos-h">Prototypes of \u201c${escapeHtml(cname)}\u201d</h2>
${protoSections}
</section>
<footer>
<p>A contribution is the mean over the image's feature map of the prototype's heatmap; the contributions plus the bias equal the model's logit, so the model's prediction is unchanged (post-hoc part-prototype decomposition, Tan, Zhou and Chen, ICML 2024). Shares are contribution / logit.</p>
${details ? `<dl>${details}</dl>` : ''}
</footer>
</main>
</body>
</html>
`;
}

