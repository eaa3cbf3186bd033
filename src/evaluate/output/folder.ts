/**
 * The `--out` folder of an evaluation:
 *
 *   evaluation.json     the report (schema 'protolens.evaluation', version 1)
 *   results.md          the markdown tables
 *   deletion.png        mean deletion/insertion curves with the random baseline (when run)
 *   consistency.png     consistency, stability and per-part bars per prototype set (when run)
 *   maps.safetensors    per image and prototype: maps, peaks, hit vectors (see maps-export.ts)
 *   maps.json           row order, ids, names and the layout of maps.safetensors
 *   purity.safetensors  per prototype its top training images (with purity; see purity-export.ts)
 *   purity.json         those images' ids, sizes and parts, and the patch rule
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.ts';
import { recordOutputEntries } from '../../io/output-folder.ts';
import { MAPS_FILE, MAPS_INDEX_FILE, writeMaps, type MapsContext } from './maps-export.ts';
import type { PartsRows } from '../metrics/parts-rows.ts';
import type { PurityTops } from '../metrics/purity.ts';
import { PURITY_FILE, PURITY_INDEX_FILE, writePurity } from './purity-export.ts';
import { consistencyPlotSvg, deletionPlotSvg, svgToPng } from './plots.ts';
import type { EvaluationOutputs, EvaluationReport } from './report.ts';
import { formatResultsMarkdown } from './results-markdown.ts';

export const REPORT_FILE = 'evaluation.json';
export const MARKDOWN_FILE = 'results.md';
export const DELETION_PLOT_FILE = 'deletion.png';
export const CONSISTENCY_PLOT_FILE = 'consistency.png';

/** Write every output for `report` into `dir` (created); sets and returns `report.outputs`. */
export async function writeEvaluationOutputs(report: EvaluationReport, dir: string, rows: PartsRows | null, ctx: MapsContext, purity: { tops: PurityTops; input: readonly [number, number] } | null = null): Promise<EvaluationOutputs> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  await recordOutputEntries(abs, [REPORT_FILE, MARKDOWN_FILE, DELETION_PLOT_FILE, CONSISTENCY_PLOT_FILE, MAPS_FILE, MAPS_INDEX_FILE, PURITY_FILE, PURITY_INDEX_FILE]);
  const outputs: EvaluationOutputs = { dir: abs, report: REPORT_FILE, markdown: MARKDOWN_FILE, deletionPlot: null, consistencyPlot: null, maps: null, mapsIndex: null, purity: null, purityIndex: null };
  if (report.metrics.purity && purity) {
    const w = await writePurity(abs, purity.tops, report.metrics.purity, { grid: ctx.mapSize, input: purity.input });
    outputs.purity = w.tensors;
    outputs.purityIndex = w.index;
  }
  if (report.metrics.deletion) {
    await writeFileAtomic(join(abs, DELETION_PLOT_FILE), await svgToPng(deletionPlotSvg(report.metrics.deletion)));
    outputs.deletionPlot = DELETION_PLOT_FILE;
  }
  if (report.metrics.parts) {
    await writeFileAtomic(join(abs, CONSISTENCY_PLOT_FILE), await svgToPng(consistencyPlotSvg(report.metrics.parts)));
    outputs.consistencyPlot = CONSISTENCY_PLOT_FILE;
    if (rows) {
      const m = await writeMaps(abs, rows, report.metrics.parts, ctx);
      outputs.maps = m.maps;
      outputs.mapsIndex = m.index;
    }
  }
  report.outputs = outputs;
  await writeFileAtomic(join(abs, MARKDOWN_FILE), formatResultsMarkdown(report));
  await writeJsonAtomic(join(abs, REPORT_FILE), report);
  return outputs;
}
