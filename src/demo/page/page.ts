/**
 * The demo page (`index.html` of the demo's output folder): one self-contained document with inline
 * CSS, no scripts and no outside resources; every picture is a relative link into the folder.
 * Sections: overview (key numbers), the data, the class gallery, explained test images, build
 * diagnostics, evaluation, and how the page was made.
 */
import type { DemoPageData } from '../../html/page-data.ts';
import { evaluationSection } from './evaluation.ts';
import { sanitySection } from '../../html/sanity-section.ts';
import { bodyRegion, gallerySection, PROTOTYPE_BLOCK_CSS } from '../../html/gallery.ts';
import { diagnosticsSection, explanationsSection } from './sections.ts';
import { duration, esc, num, pct, url } from '../../html/format.ts';

const CSS = `
:root { --ink: #1b1f24; --sub: #59636e; --line: #d8dee4; --soft: #f5f7f9; --accent: #0b5cad; --ok: #1a7f37; --bad: #b3261e; }
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: var(--ink); background: #fff; }
a { color: var(--accent); }
nav { position: sticky; top: 0; z-index: 2; background: rgba(255,255,255,0.96); border-bottom: 1px solid var(--line); }
nav ul { list-style: none; margin: 0 auto; padding: 8px 24px; max-width: 1240px; display: flex; flex-wrap: wrap; gap: 4px 20px; font-size: 0.95rem; }
nav a { text-decoration: none; }
header.hero { background: linear-gradient(135deg, #0b3d6e, #0b5cad 55%, #2f7fc9); color: #fff; }
header.hero .in { max-width: 1240px; margin: 0 auto; padding: 28px 24px 24px; }
header.hero h1 { margin: 0 0 6px; font-size: 1.9rem; line-height: 1.2; }
header.hero p { margin: 0; max-width: 900px; color: #e3eefa; }
main { max-width: 1240px; margin: 0 auto; padding: 8px 24px 48px; }
section { margin-top: 36px; }
h2 { font-size: 1.45rem; margin: 0 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin: 20px 0 6px; }
h4 { font-size: 0.95rem; margin: 0 0 4px; }
.lead { color: var(--sub); max-width: 980px; margin-top: 4px; }
.sub { color: var(--sub); font-size: 0.9rem; margin: 0 0 6px; word-break: break-all; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-top: 18px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.tile .v { font-size: 1.6rem; font-weight: 650; line-height: 1.2; font-variant-numeric: tabular-nums; }
.tile .l { color: var(--sub); font-size: 0.88rem; }
.two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 24px; align-items: start; }
.sheet { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.gallery { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; margin-top: 12px; }
.cls { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; }
.cls header { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: 2px 8px; }
.cls h3 { margin: 0; font-size: 1.02rem; }
.cid { color: var(--sub); font-weight: 400; font-variant-numeric: tabular-nums; }
.acc { color: var(--sub); font-size: 0.82rem; white-space: nowrap; }
.acc.warn { color: var(--bad); }
.attrs { list-style: none; padding: 0; margin: 6px 0 4px; display: flex; flex-wrap: wrap; gap: 4px 6px; font-size: 0.8rem; }
.attrs li { background: var(--soft); border: 1px solid var(--line); border-radius: 10px; padding: 0 7px; }
.attrs b { font-weight: 600; color: var(--sub); }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 50%; border: 1px solid #8888; margin: 0 3px 0 1px; vertical-align: -1px; }
${PROTOTYPE_BLOCK_CSS}
.pchip.sm { min-width: 24px; }
.expl { display: grid; grid-template-columns: auto minmax(0, 1fr); grid-template-areas: "head head" "pics text"; gap: 6px 22px; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-top: 14px; }
.expl.wrong { border-color: #e8b4b0; background: #fffafa; }
.ehead { grid-area: head; }
.ehead h3 { margin: 0; }
.expl .pics { grid-area: pics; display: flex; gap: 8px; align-items: flex-start; }
.expl .etext { grid-area: text; }
.expl .etext p:first-child { margin-top: 0; }
.expl figure { margin: 0; text-align: center; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
.expl figure small { color: var(--sub); }
.expl img { display: block; width: 128px; height: 128px; border: 1px solid var(--line); border-radius: 4px; }
img.pix { image-rendering: pixelated; }
.decomps { display: flex; flex-wrap: wrap; gap: 18px; }
.decomp table { border-collapse: collapse; min-width: 220px; }
.decomp th, .decomp td { padding: 2px 8px; border-bottom: 1px solid var(--line); text-align: left; font-weight: 400; }
.decomp tr.total th, .decomp tr.total td { font-weight: 650; border-bottom: 0; }
.decomp tr.bias th { color: var(--sub); }
.verdict { font-size: 0.85rem; font-weight: 600; border-radius: 4px; padding: 1px 6px; margin-left: 6px; white-space: nowrap; }
.verdict.ok { color: var(--ok); background: #e8f5ec; }
.verdict.bad { color: var(--bad); background: #fdecea; }
.more { font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
.scroll { overflow-x: auto; }
table.diag, table.sets { border-collapse: collapse; margin-top: 8px; }
table.diag { width: 100%; }
table.diag th, table.diag td, table.sets th, table.sets td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; }
table.diag td.num, table.sets td.num, table.diag th.num, table.sets th.num { text-align: right; }
table.diag tbody th, table.sets tbody th { font-weight: 400; }
thead th { background: var(--soft); font-weight: 600; font-size: 0.9rem; }
tr.hl th, tr.hl td { font-weight: 650; background: #eef5fd; }
figure { margin: 14px 0; }
figcaption { color: var(--sub); font-size: 0.88rem; }
img.plot { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.note { color: var(--bad); }
.ok-note { color: var(--ok); font-weight: 600; }
dl.meta { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 14px; font-size: 0.92rem; }
dl.meta dt { color: var(--sub); }
dl.meta dd { margin: 0; word-break: break-all; }
code { font-size: 0.92em; background: var(--soft); padding: 1px 4px; border-radius: 3px; }
@media (max-width: 1100px) { .gallery { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@media (max-width: 760px) { .gallery, .two { grid-template-columns: 1fr; } .expl { grid-template-columns: 1fr; grid-template-areas: "head" "pics" "text"; } .expl .pics { flex-wrap: wrap; } }
@media print { nav { display: none; } header.hero { background: none; color: var(--ink); } header.hero p { color: var(--sub); } .cls, .expl { break-inside: avoid; } }
`;

function tile(value: string, label: string): string {
  return `<div class="tile"><div class="v">${value}</div><div class="l">${label}</div></div>`;
}

function overview(d: DemoPageData): string {
  const a = d.accuracy;
  const e = d.evaluation;
  const tiles = [
    tile(pct(a.images > 0 ? a.correct / a.images : null), `test accuracy (${a.correct} of ${a.images}); the prototype network gives the same logits`),
    tile(`${d.classes.length} \u00d7 ${d.build.k}`, 'classes \u00d7 prototypes, each class\u2019s head vector rebuilt exactly'),
    tile(num(d.build.meanPartFidelity, 3), 'mean part fidelity (1 = the refinement kept every NMF part)'),
  ];
  if (e.status === 'done' && e.parts) {
    const by = (n: string) => e.parts!.sets.find((s) => s.name === n);
    const r = by('refined'), i = by('initial'), q = by('random');
    tiles.push(tile(num(r?.consistency ?? null, 1), `part consistency of the prototypes (NMF parts ${num(i?.consistency ?? null, 1)}, random split ${num(q?.consistency ?? null, 1)})`));
    tiles.push(tile(num(r?.stability ?? null, 1), `stability under input noise (NMF parts ${num(i?.stability ?? null, 1)}, random split ${num(q?.stability ?? null, 1)})`));
  }
  if (e.status === 'done' && e.fidelity) tiles.push(tile(pct(e.fidelity.agreement, 1), 'predictions identical to the original model\u2019s'));
  tiles.push(tile(duration(d.timing.seconds), d.timing.cached ? 'to make this page (dataset and features from the cache)' : 'to make this page from scratch'));
  return `<section id="overview">
<p class="lead">A small CNN was trained to tell ${d.dataset.classes} kinds of drawn birds apart. The classes differ only in the look of
their parts (head, beak, wing, tail, legs), and every image comes with exact part keypoints, so what the prototypes
find can be checked. protolens explains the trained model without retraining it: it factorises each class's final
feature maps into ${d.build.k} parts (NMF), then rewrites the class's head vector exactly as the sum of ${d.build.k}
refined prototypes, so every logit splits into one contribution per prototype plus the bias.</p>
<div class="tiles">${tiles.join('')}</div>
${d.warnings.length ? `<ul class="note">${d.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
</section>`;
}

function dataSection(d: DemoPageData): string {
  const ds = d.dataset;
  const sheet = ds.contactSheet
    ? `<img class="sheet" src="${url(ds.contactSheet, 'contact sheet')}" alt="${esc(`Contact sheet: test images of all ${ds.classes} classes, one row per class`)}">`
    : '<p>No contact sheet.</p>';
  return `<section id="data">
<h2>The data and the model</h2>
<div class="two">
<div>${sheet}</div>
<div>
<p>The synthetic parts dataset (generator ${esc(ds.generatorVersion)}, seed ${ds.seed}): ${ds.classes} classes,
${ds.train} training and ${ds.test} test images of 96 \u00d7 96 pixels, written in the CUB-200-2011 layout with boxes and the 15 CUB
part keypoints. Birds are rotated, flipped, scaled and placed on cluttered backgrounds; some parts are occluded. No single part
identifies a class: the model has to combine at least two.${ds.sameAsTraining ? '' : ' <b>These images were generated with other sizes than the ones the model was trained on</b> (same generator and classes, other draws).'}</p>
<dl class="meta">
<dt>model</dt><dd>${esc(d.model.name)}: ${esc(d.model.architecture ?? 'CNN')}${d.model.parameters ? `, ${d.model.parameters.toLocaleString('en-US')} parameters` : ''}</dd>
<dt>input</dt><dd>${d.model.input[1]} \u00d7 ${d.model.input[0]}: ${esc(d.model.preprocess)}</dd>
<dt>feature map</dt><dd>${d.model.featureMap.height} \u00d7 ${d.model.featureMap.width} positions \u00d7 ${d.model.featureMap.channels} channels (the input of global average pooling)</dd>
<dt>file</dt><dd>${esc(d.model.file)}</dd>
<dt>SHA-256</dt><dd><code>${esc(d.model.sha256)}</code></dd>
<dt>prototypes</dt><dd>k = ${d.build.k}, preset ${esc(d.build.preset)} (scaling ${esc(d.build.scaling)}, split objective on the ${esc(d.build.objective)}, allocator ${esc(d.build.allocator)}), seed ${d.build.seed}, from ${d.build.images} training images; <a href="${url(d.build.manifest, 'manifest')}">manifest.json</a></dd>
</dl>
</div>
</div>
</section>`;
}

function madeSection(d: DemoPageData): string {
  const t = d.timing;
  const steps = t.steps.map((s) => `<tr><th scope="row">${esc(s.name)}</th><td class="num">${duration(s.seconds)}</td><td>${esc(s.note ?? '')}</td></tr>`).join('\n');
  return `<section id="made">
<h2>How this page was made</h2>
<p>Command: <code>${esc(d.command)}</code>, on ${esc(t.date)}; Node ${esc(t.node)}, ${t.cpus} CPU cores, load average ${t.loadAverage.map((v) => v.toFixed(1)).join(' / ')} (1 / 5 / 15 min) at the end.
Everything is seeded: running it again gives the same numbers.</p>
<table class="sets"><thead><tr><th scope="col">step</th><th scope="col" class="num">time</th><th scope="col">note</th></tr></thead>
<tbody>
${steps}
<tr class="hl"><th scope="row">total</th><td class="num">${duration(t.seconds)}</td><td></td></tr>
</tbody></table>
</section>`;
}

/** The dominant part of each prototype of class c, from the gallery data (null when not evaluated). */
function partsOf(d: DemoPageData): (c: number) => (string | null)[] {
  return (c) =>
    (d.classes[c]?.prototypes ?? []).map((p) => {
      if (!p.dominantPart) return null;
      const region = bodyRegion(p.dominantPart.name);
      return region && region !== p.dominantPart.name ? `${p.dominantPart.name} (${region})` : p.dominantPart.name;
    });
}

/** Render the demo page. Throws InputError when a picture path is not relative to the page's folder. */
export function renderDemoPage(d: DemoPageData): string {
  const parts = d.evaluation.status === 'done' ? d.evaluation.parts : null;
  const region = parts ? { size: 2 * parts.halfSize + 1, input: Math.min(...parts.inputSize) } : null;
  const nav = [
    ['overview', 'Overview'],
    ['data', 'Data & model'],
    ['prototypes', 'Prototypes'],
    ['explanations', 'Explanations'],
    ['diagnostics', 'Diagnostics'],
    ['evaluation', 'Evaluation'],
    ['sanity', 'Sanity check'],
    ['made', 'How it was made'],
  ]
    .map(([id, label]) => `<li><a href="#${id}">${label}</a></li>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>protolens demo: part-prototypes of a bird classifier</title>
<style>${CSS}</style>
</head>
<body>
<header class="hero"><div class="in">
<h1>protolens demo: part-prototypes of a bird classifier</h1>
<p>Post-hoc part-prototype networks (Tan, Zhou &amp; Chen, ICML 2024): what each class looks for, where it finds it in an image,
and how much each part adds to the logit, for a trained model left exactly as it is.</p>
</div></header>
<nav aria-label="Sections"><ul>${nav}</ul></nav>
<main>
${overview(d)}
${dataSection(d)}
${gallerySection(d.classes, d.build.k, d.build.exemplars, region)}
${explanationsSection(d.explanations, d.classNames, d.explanationsIndex, partsOf(d), d.site)}
${diagnosticsSection(d.classes, d.build.k)}
${evaluationSection(d.evaluation)}
${sanitySection(d.sanity)}
${madeSection(d)}
</main>
</body>
</html>
`;
}
