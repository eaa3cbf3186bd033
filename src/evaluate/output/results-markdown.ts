/** The evaluation report as markdown tables (results.md, and the command's text output). */
import type { EvaluationReport } from './report.ts';
import type { CurveSummary } from '../metrics/deletion.ts';

const pct = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? 'n/a' : `${(100 * v).toFixed(digits)}%`);
const num = (v: number | null | undefined, digits = 1) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));
const sci = (v: number) => (v === 0 ? '0' : v.toExponential(2));

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function saliencyName(s: CurveSummary['saliency']): string {
  return s === 'class' ? 'class map (sum of prototype maps)' : s === 'random' ? 'random order (baseline)' : `prototype ${s}`;
}

/** Markdown for a report: one section per metric run, then the checks. */
export function formatResultsMarkdown(r: EvaluationReport): string {
  const L: string[] = ['# protolens evaluation', ''];
  const d = r.dataset;
  L.push(`- network: \`${r.network.dir}\` (${r.network.classes} classes, k = ${r.network.k}, ${r.network.featureMap[0]} x ${r.network.featureMap[1]} x ${r.network.channels} features, allocator ${r.network.allocator ?? 'n/a'}${r.network.residualTerm ? ', with residual term' : ''})`);
  L.push(`- model: \`${r.model.path}\` (SHA-256 ${r.model.sha256.slice(0, 16)}..., black box: ${r.model.blackBox} session)`);
  L.push(`- dataset: \`${d.root}\` (${d.format}, split '${d.split}', ${d.evaluated} of ${d.size} images evaluated${d.failures.length ? `, ${d.failures.length} undecodable` : ''})`);
  L.push(`- seed ${r.seed}; metrics: ${r.metricsRun.join(', ')}; ${r.timing.seconds.toFixed(1)} s`);
  L.push('');
  const f = r.metrics.fidelity;
  if (f) {
    L.push('## Fidelity', '');
    L.push(...table(['', 'top-1', 'top-5'], [
      [`black box (${f.blackBox.session} session)`, pct(f.blackBox.top1), pct(f.blackBox.top5)],
      [`prototype network${f.prototypeNetwork.residualTerm ? ' (with residual term)' : ''}`, pct(f.prototypeNetwork.top1), pct(f.prototypeNetwork.top5)],
    ]));
    L.push('');
    L.push(`Prediction agreement ${pct(f.agreement)} (${f.images - f.disagreementCount} of ${f.images}); max |logit difference| ${sci(f.maxAbsLogitDiff)} (relative ${sci(f.maxRelLogitDiff)}, tolerance ${f.tolerance}): **${f.pass ? 'pass' : 'FAIL'}**`);
    if (f.failure) L.push('', `> ${f.failure}`);
    L.push('');
  }
  const p = r.metrics.parts;
  if (p) {
    const o = p.options;
    L.push('## Consistency and stability', '');
    L.push(`Parts protocol (${p.variant}): ${p.images} images, region half size ${o.halfSize} at ${o.inputSize[0]} x ${o.inputSize[1]}, threshold ${o.partThreshold}` + (o.stability ? `, stability ${o.stabilityVariant} (noise N(0, ${o.noiseStd})${o.noiseEps === null ? ' unclipped' : ` clipped to ±${o.noiseEps}`}, ${o.stabilityVariant === 'protopnext' ? 'equal part vectors' : 'signed sum of part hits unchanged'}), seed ${p.seed}` : '') + `; random split seed ${p.randomSplitSeed}.`);
    L.push('');
    const rows = Object.values(p.sets).map((s) => [
      s!.label,
      num(s!.consistency.score),
      `${s!.consistency.consistentPrototypes} / ${s!.consistency.prototypes}`,
      o.stability ? num(s!.stability?.score) : 'not run',
      ...(o.distinctiveness ? [s!.distinctiveness?.score == null ? 'n/a' : num(s!.distinctiveness.score)] : []),
      ...(o.comprehensiveness ? [s!.comprehensiveness?.score == null ? 'n/a' : num(s!.comprehensiveness.score)] : []),
    ]);
    L.push(...table(['prototypes', 'consistency', 'consistent prototypes', 'stability', ...(o.distinctiveness ? ['distinctiveness'] : []), ...(o.comprehensiveness ? ['comprehensiveness'] : [])], rows));
    L.push('');
    if (o.distinctiveness || o.comprehensiveness) {
      const notes: string[] = [];
      if (o.distinctiveness) notes.push(`distinctiveness = 100 x (1 - mean IoU of the ${o.boxSize} x ${o.boxSize} boxes on each pair of the class's maps, bilinear-upsampled)`);
      if (o.comprehensiveness) {
        const c = Object.values(p.sets)[0]?.comprehensiveness;
        notes.push(`comprehensiveness = 100 x mean IoU of the union of the maps (min-max normalised, >= ${c?.mapThreshold ?? 0.6}) with the foreground mask (> ${c?.maskThreshold ?? 200})${c && c.imagesWithoutMask > 0 ? `; ${c.imagesWithoutMask} image(s) without a mask left out` : ''}`);
      }
      L.push(`PNP (Zhu et al., CVPR 2025): ${notes.join('; ')}.`, '');
    }
    const names = Object.keys(p.sets);
    const perPart = Array.from({ length: o.numParts }, (_, i) => [
      `${i + 1}${p.partNames?.[i] ? ` ${p.partNames[i]}` : ''}`,
      ...names.map((n) => num(p.sets[n as keyof typeof p.sets]!.perPart[i].score)),
    ]);
    L.push('Per part: % of prototypes whose hit rate on the part reaches the threshold.', '');
    L.push(...table(['part', ...names], perPart));
    L.push('');
  }
  const pur = r.metrics.purity;
  if (pur) {
    L.push('## Purity', '');
    L.push(`PIP-Net (Nauta et al., CVPR 2023): per prototype, its top ${pur.topK} of ${pur.images} training images (whole images stretched to the input), the ${pur.patch} x ${pur.patch} patch at its strongest position; purity = the largest share of those images in which one part (left and right merged) lies in the patch, among images where it is visible.`, '');
    const rows = Object.values(pur.sets).map((s) => [s!.label, num(s!.mean, 3), num(s!.std, 3), `${s!.above05} / ${s!.prototypes}`]);
    L.push(...table(['prototypes', 'mean purity', 'std', 'purity > 0.5'], rows));
    L.push('');
  }
  const del = r.metrics.deletion;
  if (del) {
    L.push('## Deletion and insertion', '');
    const subs = Object.entries(del.substrates).map(([m, s]) => `${m} ${m === 'deletion' ? 'to' : 'from'} ${s}`).join(', ');
    L.push(`${del.images} images, target: ${del.target} class, ${del.pixelsPerStep} pixels per step (${del.steps} steps), ${subs}; ${num(del.imagesPerSecond, 2)} images/s (${num(del.perturbedPerSecond, 0)} perturbed images/s).`);
    L.push('');
    const keys = [...new Set(del.summary.map((s) => String(s.saliency)))];
    const modes = Object.keys(del.substrates) as ('deletion' | 'insertion')[];
    const rows = keys.map((key) => [
      saliencyName(del.summary.find((s) => String(s.saliency) === key)!.saliency),
      ...modes.map((m) => num(del.summary.find((s) => s.mode === m && String(s.saliency) === key)?.meanAuc, 4)),
    ]);
    L.push(...table(['saliency', ...modes.map((m) => `${m} AUC (${m === 'deletion' ? 'lower' : 'higher'} is better)`)], rows));
    L.push('');
    L.push(`Class map better than random on: ${modes.map((m) => `${m} ${pct(del.classBeatsRandom[m], 0)}`).join(', ')} of images.`);
    L.push('');
  }
  const ax = r.metrics.axioms;
  if (ax) {
    L.push('## Axioms', '');
    L.push(...table(['axiom', 'result', 'images', 'checks', 'worst error', 'tolerance'], ax.axioms.map((a) => [a.axiom, a.pass ? 'pass' : '**FAIL**', String(a.images), String(a.checks), a.checks ? sci(a.worstError) : '-', a.checks ? sci(a.tolerance) : '-'])));
    L.push('', `Sensitivity baseline: ${ax.baseline}.`);
    if (ax.failure) L.push('', `> ${ax.failure}`);
    L.push('');
  }
  L.push('## Checks', '');
  L.push(r.checks.passed ? 'All guarantees hold (fidelity and axioms, where run).' : `**Failed:** ${r.checks.failures.join('; ')}`);
  if (r.warnings.length) L.push('', ...r.warnings.map((w) => `- warning: ${w}`));
  return L.join('\n') + '\n';
}
