/**
 * The model-randomisation sanity check as a page section (the demo page and the viewer): per prototype
 * set and score, the trained model's and the randomised model's. Its data: `sanityView`
 * (src/viewer/sanity-report.ts).
 */
import type { PageSanity } from './page-data.ts';
import { duration, esc, num, url } from './format.ts';

const SET_LABELS: Record<string, string> = { refined: 'refined (the network)', initial: 'initial (NMF)', random: 'random convex split' };

/** The section: per set and score, the original network's and the randomised model's. */
export function sanitySection(s: PageSanity): string {
  if (s.status !== 'done') {
    return `<section id="sanity">
<h2>Sanity check: do the explanations depend on the model?</h2>
<p class="note">Not run (${esc(s.status)}): ${esc(s.reason)}</p>
</section>`;
  }
  const digits = (score: string) => (score === 'purity' ? 3 : 1);
  const rows = s.rows
    .map(
      (r) =>
        `<tr><th scope="row">${esc(SET_LABELS[r.set] ?? r.set)}</th><td>${esc(r.score)}</td><td class="num">${num(r.original, digits(r.score))}</td><td class="num">${num(r.randomised, digits(r.score))}</td></tr>`,
    )
    .join('\n');
  const c = s.cascade;
  const cascadeTable = c
    ? `<h3>Cascade: the refined prototypes as more layers are redrawn</h3>
<table class="sets"><thead><tr><th scope="col">convolutions redrawn</th>${c.scores.map((w) => `<th scope="col" class="num">${esc(w)}</th>`).join('')}</tr></thead>
<tbody>
<tr><th scope="row">none (the trained model)</th>${c.trained.map((v, j) => `<td class="num">${num(v, digits(c.scores[j]))}</td>`).join('')}</tr>
${c.steps.map((st) => `<tr><th scope="row">${st.depth} (${st.layers.map(esc).join(', ')})</th>${st.values.map((v, j) => `<td class="num">${num(v, digits(c.scores[j]))}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>`
    : '';
  const verdict = s.refinedScoresFell
    ? '<p class="ok-note">Every compared score of the refined prototypes fell: the explanations depend on the model\u2019s learned weights.</p>'
    : '<p class="note">Some score of the refined prototypes did not fall on the randomised model: see the table.</p>';
  return `<section id="sanity">
<h2>Sanity check: do the explanations depend on the model?</h2>
<p class="lead">The model-randomisation test of Adebayo et al. (NeurIPS 2018): the last convolutions before the features
(${s.layers.map(esc).join(', ')}) are redrawn at random with each layer\u2019s own spread, a prototype network is built on that
model with the same options, and both are evaluated alike (${duration(s.seconds)}). Explanations that only follow the image would
score the same.${s.links ? ` Every number: <a href="${url(s.links.markdown, 'randomisation.md')}">randomisation.md</a> and
<a href="${url(s.links.json, 'randomisation.json')}">randomisation.json</a>.` : ''}</p>
${verdict}
<table class="sets"><thead><tr><th scope="col">prototypes</th><th scope="col">score</th><th scope="col" class="num">trained model</th><th scope="col" class="num">randomised</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${cascadeTable}
</section>`;
}
