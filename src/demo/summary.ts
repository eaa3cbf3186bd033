/**
 * The demo's summary: what `npm run demo` prints (text, or JSON with --json) and writes to
 * summary.json in the output folder.
 */
import { relative } from 'node:path';
import { formatSeconds } from '../util/progress.ts';
import type { RandomisationReport } from '../checks/randomisation.ts';

export const DEMO_SUMMARY_SCHEMA = 'protolens.demo';
export const DEMO_SUMMARY_VERSION = 1;

/** Scores of the three prototype sets the evaluation compares. */
export interface SetFigures {
  refined: number | null;
  initial: number | null;
  random: number | null;
}

export interface DemoSummary {
  schema: typeof DEMO_SUMMARY_SCHEMA;
  version: typeof DEMO_SUMMARY_VERSION;
  /** Absolute path of index.html. */
  page: string;
  outDir: string;
  seconds: number;
  /** os.loadavg() at the end: 1, 5 and 15 minutes. */
  loadAverage: number[];
  steps: { name: string; seconds: number }[];
  dataset: { dir: string; reused: boolean; classes: number; train: number; test: number; seed: number; generatorVersion: string; sameAsTraining: boolean };
  model: { path: string; sha256: string };
  network: { dir: string; k: number; preset: string; seed: number; meanPartFidelity: number | null };
  /** The model on the test split (this is also the prototype network's accuracy: same logits). */
  accuracy: { images: number; correct: number; top1: number; misclassified: number };
  /** The static site's folder (absolute), or null when it was not written (a warning says why). */
  site: string | null;
  explained: { image: string; label: string; predicted: string; card: string }[];
  evaluation:
    | {
        status: 'done';
        dir: string;
        images: number;
        seed: number;
        agreement: number | null;
        consistency: SetFigures | null;
        stability: SetFigures | null;
        checksPassed: boolean;
      }
    | { status: 'unavailable' | 'skipped' | 'failed'; reason: string };
  /** The model-randomisation sanity check: per set and score, the trained model's and the randomised one's. */
  sanity:
    | { status: 'done'; dir: string; refinedScoresFell: boolean; sets: RandomisationReport['sets'] }
    | { status: 'skipped' | 'failed'; reason: string };
  warnings: string[];
}

const f1 = (v: number | null) => (v === null ? '-' : v.toFixed(1));

/** The few lines printed at the end of a run. Paths are shown relative to `cwd`. */
export function formatDemoSummary(s: DemoSummary, cwd = process.cwd()): string {
  const rel = (p: string) => {
    const r = relative(cwd, p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const lines = [`protolens demo: done in ${formatSeconds(s.seconds)} (load average ${s.loadAverage.map((v) => v.toFixed(1)).join(' ')})`];
  lines.push(`  test accuracy  ${(100 * s.accuracy.top1).toFixed(2)}% (${s.accuracy.correct} of ${s.accuracy.images}), the prototype network's too (same logits)`);
  lines.push(`  prototypes     ${s.dataset.classes} classes x ${s.network.k}, mean part fidelity ${s.network.meanPartFidelity === null ? '-' : s.network.meanPartFidelity.toFixed(3)}`);
  const e = s.evaluation;
  if (e.status === 'done') {
    if (e.consistency) lines.push(`  consistency    ${f1(e.consistency.refined)} (NMF parts ${f1(e.consistency.initial)}, random split ${f1(e.consistency.random)})`);
    if (e.stability) lines.push(`  stability      ${f1(e.stability.refined)} (NMF parts ${f1(e.stability.initial)}, random split ${f1(e.stability.random)})`);
    if (e.agreement !== null) lines.push(`  fidelity       ${(100 * e.agreement).toFixed(2)}% of predictions identical to the model's`);
    if (!e.checksPassed) lines.push('  CHECKS FAILED  see the evaluation section of the page');
  } else {
    lines.push(`  evaluation     ${e.status}: ${e.reason}`);
  }
  const sc = s.sanity;
  if (sc.status === 'done') {
    const c = sc.sets.refined?.consistency;
    lines.push(`  sanity check   ${sc.refinedScoresFell ? 'every refined score fell' : 'A REFINED SCORE DID NOT FALL'} on the randomised model${c ? ` (consistency ${f1(c.original)} -> ${f1(c.randomised)})` : ''}`);
  } else lines.push(`  sanity check   ${sc.status}: ${sc.reason}`);
  lines.push(`  explained      ${s.explained.length} test images`);
  for (const w of s.warnings) lines.push(`  warning        ${w}`);
  lines.push(`  open           ${rel(s.page)}`);
  return lines.join('\n') + '\n';
}
