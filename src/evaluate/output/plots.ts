/**
 * Evaluation plots as SVG, rendered to PNG with sharp (librsvg):
 * - deletion/insertion: the mean class-probability curve per saliency (class map, each prototype,
 *   the random baseline), one panel per mode;
 * - consistency: per prototype set, the overall consistency and stability, and per part the share of
 *   prototypes consistent on it.
 */
import sharp from 'sharp';
import type { DeletionReport } from '../metrics/deletion.ts';
import type { PartsSetsReport } from '../metrics/parts-sets.ts';

const FONT = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const SET_COLOURS: Record<string, string> = { refined: '#1f77b4', initial: '#ff7f0e', random: '#8c8c8c' };
const PROTO_COLOURS = ['#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#bcbd22', '#17becf', '#7f7f7f'];

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(p: Panel, yMax: number, yTicks: number[], xLabel: string, yLabel: string, fmtY: (v: number) => string): string[] {
  const out: string[] = [];
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="white" stroke="#444" stroke-width="1"/>`);
  for (const t of yTicks) {
    const y = p.y + p.h - (t / yMax) * p.h;
    out.push(`<line x1="${p.x}" y1="${y.toFixed(1)}" x2="${p.x + p.w}" y2="${y.toFixed(1)}" stroke="#e5e5e5" stroke-width="1"/>`);
    out.push(`<text x="${p.x - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end" ${FONT}>${fmtY(t)}</text>`);
  }
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 34}" font-size="12" text-anchor="middle" ${FONT}>${esc(xLabel)}</text>`);
  out.push(`<text x="${p.x - 40}" y="${p.y + p.h / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 ${p.x - 40} ${p.y + p.h / 2})" ${FONT}>${esc(yLabel)}</text>`);
  return out;
}

/** SVG of the deletion/insertion curves (mean over images). */
export function deletionPlotSvg(r: DeletionReport): string {
  const modes = [...new Set(r.summary.map((s) => s.mode))];
  const pw = 380, ph = 260, left = 70, top = 60, gap = 90;
  const width = left + modes.length * pw + (modes.length - 1) * gap + 190;
  const height = top + ph + 70;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="100%" height="100%" fill="white"/>`];
  out.push(`<text x="${left}" y="24" font-size="15" font-weight="bold" ${FONT}>Deletion and insertion: mean probability of the ${r.target} class (${r.images} images)</text>`);
  const protos = [...new Set(r.summary.map((s) => s.saliency).filter((s): s is number => typeof s === 'number'))].sort((a, b) => a - b);
  modes.forEach((mode, mi) => {
    const p: Panel = { x: left + mi * (pw + gap), y: top, w: pw, h: ph };
    out.push(...axes(p, 1, [0, 0.25, 0.5, 0.75, 1], 'fraction of pixels moved', 'probability', (v) => v.toFixed(2)));
    for (const t of [0, 0.25, 0.5, 0.75, 1]) out.push(`<text x="${(p.x + t * p.w).toFixed(1)}" y="${p.y + p.h + 16}" font-size="11" text-anchor="middle" ${FONT}>${t}</text>`);
    const cls = r.summary.find((s) => s.mode === mode && s.saliency === 'class');
    const rnd = r.summary.find((s) => s.mode === mode && s.saliency === 'random');
    out.push(`<text x="${p.x}" y="${p.y - 10}" font-size="13" ${FONT}>${esc(`${mode} (${r.substrates[mode]}): AUC class ${cls?.meanAuc.toFixed(3)}, random ${rnd?.meanAuc.toFixed(3)}`)}</text>`);
    const line = (curve: number[], colour: string, widthPx: number, dash = '') => {
      const n = curve.length - 1;
      const pts = curve.map((v, i) => `${(p.x + (i / n) * p.w).toFixed(1)},${(p.y + p.h - Math.max(0, Math.min(1, v)) * p.h).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${colour}" stroke-width="${widthPx}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    };
    for (const j of protos) {
      const s = r.summary.find((q) => q.mode === mode && q.saliency === j);
      if (s) line(s.meanCurve, PROTO_COLOURS[j % PROTO_COLOURS.length], 1.2);
    }
    if (rnd) line(rnd.meanCurve, '#555', 2, '6 4');
    if (cls) line(cls.meanCurve, '#1f77b4', 2.5);
  });
  const lx = left + modes.length * pw + (modes.length - 1) * gap + 20;
  const legend: [string, string, string][] = [['class map', '#1f77b4', ''], ['random order', '#555', '6 4'], ...protos.map((j): [string, string, string] => [`prototype ${j}`, PROTO_COLOURS[j % PROTO_COLOURS.length], ''])];
  legend.forEach(([label, colour, dash], i) => {
    const y = top + 10 + i * 20;
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 26}" y2="${y}" stroke="${colour}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 32}" y="${y + 4}" font-size="12" ${FONT}>${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** SVG of consistency and stability per prototype set, and per-part consistency bars. */
export function consistencyPlotSvg(r: PartsSetsReport): string {
  const names = Object.keys(r.sets) as (keyof PartsSetsReport['sets'])[];
  const P = r.options.numParts;
  const groupW = 14 * names.length + 12;
  const left = 70, top = 60, ph = 260;
  type Key = 'consistency' | 'stability' | 'distinctiveness' | 'comprehensiveness';
  const metrics: Key[] = (['consistency', 'stability', 'distinctiveness', 'comprehensiveness'] as const).filter((m) => m === 'consistency' || r.options[m]);
  const leftW = Math.max(2, metrics.length) * (18 * names.length + 30);
  const rightW = P * groupW;
  const gap = 80;
  const width = left + leftW + gap + rightW + 30;
  const height = top + ph + 130;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`, `<rect width="100%" height="100%" fill="white"/>`];
  out.push(`<text x="${left}" y="24" font-size="15" font-weight="bold" ${FONT}>${esc(`Part consistency (${r.variant} protocol, ${r.images} images, threshold ${r.options.partThreshold})`)}</text>`);
  const ticks = [0, 25, 50, 75, 100];
  const pl: Panel = { x: left, y: top, w: leftW, h: ph };
  out.push(...axes(pl, 100, ticks, '', 'score (0-100)', (v) => String(v)));
  const bar = (x: number, wBar: number, v: number | null | undefined, colour: string, panel: Panel) => {
    if (v === null || v === undefined) return;
    const hBar = (Math.max(0, Math.min(100, v)) / 100) * panel.h;
    out.push(`<rect x="${x.toFixed(1)}" y="${(panel.y + panel.h - hBar).toFixed(1)}" width="${wBar}" height="${hBar.toFixed(1)}" fill="${colour}"/>`);
  };
  metrics.forEach((key, gi) => {
    const label = key === 'comprehensiveness' ? 'comprehens.' : key === 'distinctiveness' ? 'distinct.' : key;
    const gx = pl.x + 15 + gi * (18 * names.length + 30);
    names.forEach((n, si) => {
      const s = r.sets[n]!;
      const v = key === 'consistency' ? s.consistency.score : s[key]?.score;
      bar(gx + si * 18, 14, v, SET_COLOURS[n] ?? '#333', pl);
    });
    out.push(`<text x="${gx + (18 * names.length) / 2}" y="${pl.y + pl.h + 16}" font-size="11" text-anchor="middle" ${FONT}>${label}</text>`);
  });
  const pr: Panel = { x: left + leftW + gap, y: top, w: rightW, h: ph };
  out.push(...axes(pr, 100, ticks, '', '% prototypes consistent on the part', (v) => String(v)));
  for (let p = 0; p < P; p++) {
    const gx = pr.x + 6 + p * groupW;
    names.forEach((n, si) => bar(gx + si * 14, 12, r.sets[n]!.perPart[p].score, SET_COLOURS[n] ?? '#333', pr));
    const label = r.partNames?.[p] ?? `part ${p + 1}`;
    const cx = gx + (14 * names.length) / 2;
    out.push(`<text x="${cx}" y="${pr.y + pr.h + 12}" font-size="11" text-anchor="end" transform="rotate(-45 ${cx} ${pr.y + pr.h + 12})" ${FONT}>${esc(label)}</text>`);
  }
  names.forEach((n, i) => {
    const x = left + i * 190;
    const y = height - 16;
    out.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${SET_COLOURS[n] ?? '#333'}"/>`);
    out.push(`<text x="${x + 18}" y="${y}" font-size="12" ${FONT}>${esc(r.sets[n]!.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Render an SVG to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 96 }).png().toBuffer();
}
