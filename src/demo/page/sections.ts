/**
 * Sections of the demo page other than the gallery and the evaluation: the explained test images
 * and the build diagnostics table.
 */
import type { PageClass, PageExplanation } from '../../html/page-data.ts';
import { protoColour } from '../../html/gallery.ts';
import { displayName, esc, num, pct, signed, url } from '../../html/format.ts';

function contributionRows(contributions: readonly number[], bias: number, logit: number, parts: readonly (string | null)[]): string {
  const rows = contributions.map(
    (v, i) =>
      `<tr><th scope="row"><span class="pchip sm" style="--c:${protoColour(i)}">P${i}</span>${parts[i] ? ` <small>${esc(parts[i]!)}</small>` : ''}</th><td class="num">${signed(v)}</td></tr>`,
  );
  rows.push(`<tr class="bias"><th scope="row">bias</th><td class="num">${signed(bias)}</td></tr>`);
  rows.push(`<tr class="total"><th scope="row">= logit</th><td class="num">${signed(logit)}</td></tr>`);
  return rows.join('');
}

function explanationCard(e: PageExplanation, names: readonly string[], partsOf: (c: number) => (string | null)[]): string {
  const truth = displayName(names[e.label]);
  const pred = displayName(names[e.predicted]);
  const correct = e.label === e.predicted;
  const verdict = correct ? `<span class="verdict ok">\u2713 correct</span>` : `<span class="verdict bad">\u2717 misclassified as ${esc(pred)}</span>`;
  const parts = partsOf(e.explainedClass);
  const overlays = e.overlays
    .map(
      (o, i) =>
        `<figure><a href="${url(e.card, 'card')}"><img src="${url(o, 'overlay')}" width="128" height="128" alt="${esc(`Heatmap of prototype ${i} of ${pred} over ${e.image}, strongest region boxed`)}"></a>` +
        `<figcaption><span class="pchip sm" style="--c:${protoColour(i)}">P${i}</span> ${e.contributions[i] !== undefined ? signed(e.contributions[i], 2) : ''}${parts[i] ? `<br><small>${esc(parts[i]!)}</small>` : ''}</figcaption></figure>`,
    )
    .join('');
  const trueBlock = e.trueClass
    ? `<div class="decomp"><h4>Why not ${esc(truth)}? Its own logit</h4><table>${contributionRows(e.trueClass.contributions, e.trueClass.bias, e.trueClass.logit, partsOf(e.label))}</table></div>`
    : '';
  return `<article class="expl${correct ? '' : ' wrong'}">
<div class="ehead"><h3>${esc(truth)} ${verdict}</h3><p class="sub">${esc(e.image)} \u00b7 ${esc(e.reason)}</p></div>
<div class="pics">
<figure><a href="${url(e.card, 'card')}"><img src="${url(e.input, 'input picture')}" width="128" height="128" class="pix" alt="${esc(`Test image ${e.image} as the model sees it: cropped to its box, 64 x 64`)}"></a><figcaption>input</figcaption></figure>
${overlays}
</div>
<div class="etext">
<p>Predicted <b>${esc(pred)}</b> (${pct(e.probability)}). Its logit is the sum of one contribution per prototype and the bias:</p>
<div class="decomps">
<div class="decomp"><h4>${esc(pred)}</h4><table>${contributionRows(e.contributions, e.bias, e.logit, parts)}</table></div>
${trueBlock}
</div>
<p><a class="more" href="${url(e.card, 'card')}">Full card: top classes, boxes, exemplars \u2192</a></p>
</div>
</article>`;
}

/** The explained images. `partsOf(c)` names each prototype's dominant part (or null). */
export function explanationsSection(list: readonly PageExplanation[], names: readonly string[], index: string | null, partsOf: (c: number) => (string | null)[], site: { index: string; megabytes: number } | null = null): string {
  const body = list.length > 0 ? list.map((e) => explanationCard(e, names, partsOf)).join('\n') : '<p>No test image was explained.</p>';
  return `<section id="explanations">
<h2>Explained test images</h2>
<p class="lead">Each test image is cropped to its box and resized to 64 \u00d7 64, as in training. Beside it, each prototype of the
predicted class: its heatmap over the image (yellow = strong) and its strongest region (box), with its contribution to the
logit. The numbers are exact: contributions + bias = the model's own logit, to float precision.${index ? ` All cards: <a href="${url(index, 'explanations index')}">explanations/index.html</a>.` : ''}</p>
${site ? `<p class="lead" id="site-link"><b>Explain your own images in the browser:</b> <a href="${url(site.index, 'site')}">the network's static site</a> (${site.megabytes.toFixed(1)} MB, written by <code>protolens site</code>) runs the model in the page with onnxruntime-web; nothing is uploaded. Browsers load it only over HTTP: serve the <code>site</code> folder next to this page with any static web server (from this folder: <code>python3 -m http.server -d site</code>) or publish it, then open the address.</p>` : ''}
${body}
</section>`;
}

/** The per-class build diagnostics table. */
export function diagnosticsSection(classes: readonly PageClass[], k: number): string {
  const rows = classes
    .map((c) => {
      const d = c.diagnostics;
      const fid = c.prototypes.map((p) => num(p.partFidelity, 3)).join(' ');
      return `<tr><th scope="row"><a href="#class-${c.index}">${esc(displayName(c.name))}</a></th><td class="num">${c.trainImages}</td><td class="num">${num(d.nmfRelError)}</td><td class="num">${num(d.residualRatio)}</td><td class="num nowrap">${fid}</td><td class="num">${num(d.meanPartFidelity)}</td><td class="num">${num(d.partFidelityUniformMean)}</td><td class="num">${num(d.objectiveRatio)}</td></tr>`;
    })
    .join('\n');
  return `<section id="diagnostics">
<h2>Build diagnostics</h2>
<p class="lead"><b>NMF error</b>: ||F \u2212 E P|| / ||F|| of the class's feature maps with ${k} parts. <b>||R||/||v||</b>: the share of the head
vector the scaled parts cannot express (non-negative parts cannot express negative weights), which the refinement
distributes over the prototypes. <b>Part fidelity</b>: cosine between each refined prototype's heatmaps and its NMF
part's, per prototype and mean; beside it the same for a uniform split of the residual. <b>Objective ratio</b>: the
split objective of the chosen split divided by the uniform split's (below 1 = better than uniform).</p>
<div class="scroll"><table class="diag">
<thead><tr><th scope="col">class</th><th scope="col" class="num">train images</th><th scope="col" class="num">NMF error</th><th scope="col" class="num">||R||/||v||</th><th scope="col" class="num">part fidelity per prototype</th><th scope="col" class="num">mean</th><th scope="col" class="num">uniform split</th><th scope="col" class="num">objective ratio</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>
</section>`;
}
