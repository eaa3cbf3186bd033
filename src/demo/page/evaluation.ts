/**
 * The evaluation on the demo page: the report of `evaluateNetwork` reduced to what the page shows
 * (`evaluationView`), and its section (`evaluationSection`).
 */
import type { EvaluationReport } from '../../evaluate/output/report.ts';
import type { PageEvaluation, PageSetScores } from '../../html/page-data.ts';
import { duration, esc, num, pct, sci, url } from '../../html/format.ts';

/**
 * The page's view of an evaluation report. `prefix` is the evaluation folder relative to the page
 * (e.g. 'evaluation'), for the plots and files it wrote.
 */
/** How the page names a stability variant. */
function stabilityWording(variant: string): string {
  return variant === 'protopnext'
    ? "ProtoPNeXt's rule: the part vector must stay the same"
    : "EvalProtoPNet's rule, as published numbers were computed: the hits' signed sum over parts must not change";
}

export function evaluationView(r: EvaluationReport, prefix: string): PageEvaluation {
  const m = r.metrics;
  const rel = (f: string | null | undefined) => (f ? `${prefix}/${f}` : null);
  const f = m.fidelity;
  const p = m.parts;
  const order = ['refined', 'initial', 'random'];
  const sets: PageSetScores[] = p
    ? Object.entries(p.sets)
        .filter((e): e is [string, NonNullable<(typeof e)[1]>] => e[1] !== undefined)
        .sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]))
        .map(([name, s]) => ({
          name,
          label: s.label,
          consistency: s.consistency.score,
          consistentPrototypes: s.consistency.consistentPrototypes,
          prototypes: s.consistency.prototypes,
          stability: s.stability?.score ?? null,
          distinctiveness: s.distinctiveness?.score ?? null,
          comprehensiveness: s.comprehensiveness?.score ?? null,
          purity: m.purity?.sets[name as keyof NonNullable<typeof m.purity>['sets']]?.mean ?? null,
        }))
    : [];
  const d = m.deletion;
  const auc = (mode: string, saliency: string | number) => d?.summary.find((s) => s.mode === mode && s.saliency === saliency)?.meanAuc ?? null;
  const saliencies: (string | number)[] = d ? ['class', ...[...new Set(d.summary.map((s) => s.saliency).filter((s): s is number => typeof s === 'number'))].sort((a, b) => a - b), 'random'] : [];
  const label = (s: string | number) => (s === 'class' ? 'class map (sum of the prototype maps)' : s === 'random' ? 'random order (baseline)' : `prototype ${s}`);
  return {
    status: 'done',
    images: r.dataset.evaluated,
    seconds: r.timing.seconds,
    seed: r.seed,
    fidelity: f
      ? { images: f.images, blackBoxTop1: f.blackBox.top1, networkTop1: f.prototypeNetwork.top1, agreement: f.agreement, maxAbsLogitDiff: f.maxAbsLogitDiff, pass: f.pass }
      : null,
    parts: p
      ? {
          images: p.images,
          variant: p.variant,
          halfSize: p.options.halfSize,
          inputSize: p.options.inputSize,
          threshold: p.options.partThreshold,
          stabilityVariant: p.options.stabilityVariant,
          noiseStd: p.options.noiseStd,
          noiseEps: p.options.noiseEps,
          boxSize: p.options.distinctiveness ? p.options.boxSize : null,
          comprehensiveness: p.options.comprehensiveness,
          purity: m.purity ? { topK: m.purity.topK, patch: m.purity.patch, images: m.purity.images } : null,
          sets,
        }
      : null,
    deletion: d
      ? {
          images: d.images,
          rows: saliencies.map((s) => ({ label: label(s), deletion: auc('deletion', s), insertion: auc('insertion', s) })),
          beatsRandom: Object.entries(d.classBeatsRandom).map(([mode, fraction]) => ({ mode, fraction: fraction ?? 0 })),
        }
      : null,
    axioms: m.axioms
      ? m.axioms.axioms.map((a) => ({ axiom: a.axiom, pass: a.pass, images: a.images, checks: a.checks, worstError: a.worstError, tolerance: a.tolerance }))
      : null,
    plots: { consistency: rel(r.outputs?.consistencyPlot), deletion: rel(r.outputs?.deletionPlot) },
    links: { markdown: rel(r.outputs?.markdown), json: rel(r.outputs?.report) },
    checks: { passed: r.checks.passed, failures: [...r.checks.failures] },
  };
}

const passText = (ok: boolean) => (ok ? '<span class="verdict ok">\u2713 pass</span>' : '<span class="verdict bad">\u2717 fail</span>');

/** The evaluation section. */
export function evaluationSection(e: PageEvaluation): string {
  if (e.status !== 'done') {
    const what = e.status === 'unavailable' ? 'The evaluation module is not available in this checkout' : e.status === 'skipped' ? 'The evaluation was skipped' : 'The evaluation failed';
    return `<section id="evaluation">
<h2>Evaluation</h2>
<p class="note">${what}: ${esc(e.reason)}</p>
</section>`;
  }
  const parts: string[] = [];
  if (e.fidelity) {
    const f = e.fidelity;
    parts.push(`<h3>Fidelity: the same model</h3>
<p>On ${f.images} test images the black-box model and the prototype network give top-1 accuracy <b>${pct(f.blackBoxTop1, 2)}</b> and
<b>${pct(f.networkTop1, 2)}</b>; they agree on ${pct(f.agreement, 2)} of the predictions and their logits differ by at most
${sci(f.maxAbsLogitDiff)}. ${passText(f.pass)}</p>`);
  }
  if (e.parts) {
    const p = e.parts;
    const rows = p.sets
      .map(
        (s) =>
          `<tr${s.name === 'refined' ? ' class="hl"' : ''}><th scope="row">${esc(s.label)}</th><td class="num">${num(s.consistency, 1)}</td><td class="num">${s.consistentPrototypes} / ${s.prototypes}</td><td class="num">${num(s.stability, 1)}</td>` +
          `${p.boxSize !== null ? `<td class="num">${num(s.distinctiveness, 1)}</td>` : ''}${p.comprehensiveness ? `<td class="num">${num(s.comprehensiveness, 1)}</td>` : ''}${p.purity ? `<td class="num">${num(s.purity, 3)}</td>` : ''}</tr>`,
      )
      .join('\n');
    const regionText = [
      p.boxSize !== null
        ? `<i>distinctiveness</i> is 100 \u00d7 (1 \u2212 the mean overlap (IoU) of ${p.boxSize} \u00d7 ${p.boxSize} px boxes centred on the peaks of each pair of a class's prototypes): high when a class's prototypes look at different places`
        : '',
      p.comprehensiveness ? `<i>comprehensiveness</i> is the overlap (IoU, %) of the union of the prototypes' strong regions (\u2265 0.6 after min-max scaling) with the object's mask: high when together they cover the object` : '',
    ].filter((x) => x !== '');
    const purityText = p.purity
      ? ` <i>Purity</i> (Nauta et al., CVPR 2023) looks at each prototype's top ${p.purity.topK} of the ${p.purity.images} training images: the share of them in which one part lies in the ${p.purity.patch} \u00d7 ${p.purity.patch} px patch at the prototype's strongest position (0 to 1).`
      : '';
    parts.push(`<h3>Consistency and stability: do prototypes land on the same part?</h3>
<p>The protocol of Huang et al. (ICCV 2023) on the dataset's part keypoints (${p.variant}: test images cropped to their box,
${p.inputSize[1]} \u00d7 ${p.inputSize[0]}, region of half size ${p.halfSize} px around each prototype's peak). A prototype is
<i>consistent</i> when one part falls inside its region in at least ${pct(p.threshold, 0)} of its class's test images where the part
is visible; <i>stability</i> is the share of images whose part hits do not change under input noise N(0, ${p.noiseStd})${p.noiseEps === null ? '' : ` clipped to
\u00b1${p.noiseEps}`} (${esc(stabilityWording(p.stabilityVariant))}). The refined prototypes (the network's) are compared with the NMF parts before refinement and with a
random convex split of the same head vectors.${regionText.length ? ` As Zhu et al. (CVPR 2025) measure them, ${regionText.join('; ')}.` : ''}${purityText}</p>
<table class="sets"><thead><tr><th scope="col">prototypes</th><th scope="col" class="num">consistency</th><th scope="col" class="num">consistent</th><th scope="col" class="num">stability</th>${p.boxSize !== null ? '<th scope="col" class="num">distinctiveness</th>' : ''}${p.comprehensiveness ? '<th scope="col" class="num">comprehensiveness</th>' : ''}${p.purity ? '<th scope="col" class="num">purity</th>' : ''}</tr></thead>
<tbody>
${rows}
</tbody></table>
${e.plots.consistency ? `<figure><img src="${url(e.plots.consistency, 'consistency plot')}" class="plot" alt="Bar charts: consistency and stability of the refined, NMF and random-split prototypes, and per part the share of prototypes consistent on it"><figcaption>Consistency and stability per prototype set, and per part the share of prototypes consistent on it.</figcaption></figure>` : ''}`);
  }
  if (e.deletion) {
    const d = e.deletion;
    const rows = d.rows.map((r) => `<tr><th scope="row">${esc(r.label)}</th><td class="num">${num(r.deletion, 3)}</td><td class="num">${num(r.insertion, 3)}</td></tr>`).join('\n');
    const beats = d.beatsRandom.map((b) => `${esc(b.mode)} ${pct(b.fraction, 0)}`).join(', ');
    parts.push(`<h3>Deletion and insertion: do the heatmaps point at what the model uses?</h3>
<p>Pixels are removed (deletion) or restored (insertion) in the order of a heatmap and the probability of the predicted class is
tracked (Petsiuk et al., 2018), on ${d.images} test images. Lower deletion and higher insertion area are better; a random order is the
baseline.${beats ? ` The class map beats the random order on ${beats} of the images.` : ''}</p>
<table class="sets"><thead><tr><th scope="col">order</th><th scope="col" class="num">deletion AUC \u2193</th><th scope="col" class="num">insertion AUC \u2191</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${e.plots.deletion ? `<figure><img src="${url(e.plots.deletion, 'deletion plot')}" class="plot" alt="Deletion and insertion curves: mean probability of the predicted class as pixels are moved, for the class map, each prototype and a random order"><figcaption>Mean deletion and insertion curves.</figcaption></figure>` : ''}`);
  }
  if (e.axioms) {
    const rows = e.axioms
      .map((a) => `<tr><th scope="row">${esc(a.axiom)}</th><td>${passText(a.pass)}</td><td class="num">${a.images}</td><td class="num">${a.checks}</td><td class="num">${a.checks > 0 ? sci(a.worstError) : '\u2013'}</td><td class="num">${sci(a.tolerance)}</td></tr>`)
      .join('\n');
    parts.push(`<h3>Explainability axioms</h3>
<p>The decomposition is linear in the features, so completeness, linearity, sensitivity and symmetry hold by construction; here
they are checked numerically.</p>
<table class="sets"><thead><tr><th scope="col">axiom</th><th scope="col">result</th><th scope="col" class="num">images</th><th scope="col" class="num">checks</th><th scope="col" class="num">worst error</th><th scope="col" class="num">tolerance</th></tr></thead>
<tbody>
${rows}
</tbody></table>`);
  }
  const checks = e.checks.passed
    ? '<p class="ok-note">All guarantees hold (fidelity and axioms).</p>'
    : `<p class="note">Failed checks:</p><ul>${e.checks.failures.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>`;
  const links = [e.links.markdown ? `<a href="${url(e.links.markdown, 'results.md')}">results.md</a>` : '', e.links.json ? `<a href="${url(e.links.json, 'evaluation.json')}">evaluation.json</a>` : ''].filter(Boolean);
  return `<section id="evaluation">
<h2>Evaluation on the test split</h2>
<p class="lead">${e.images} test images, seed ${e.seed}, ${duration(e.seconds)}.${links.length ? ` Every number: ${links.join(' and ')}.` : ''}</p>
${checks}
${parts.join('\n')}
</section>`;
}
