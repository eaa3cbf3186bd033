/**
 * Reading a model-randomisation sanity check back (`protolens sanity --out DIR` wrote
 * DIR/randomisation.json) and reducing it to what a page shows (`sanityView`, for the viewer and the
 * demo page; the section itself is src/html/sanity-section.ts).
 */
import { resolve } from 'node:path';
import { readReportFile } from '../io/report-file.ts';
import type { RandomisationReport } from '../checks/randomisation.ts';
import type { PageSanity } from '../html/page-data.ts';
import { InputError } from '../util/errors.ts';

const REPORT = 'randomisation.json';
const SCHEMA = 'protolens.randomisation-check';

/**
 * The report at `path` (a sanity folder or its randomisation.json), checked to be one of the network
 * folder `netDir`. @throws InputError naming the file and what does not match.
 */
export async function readSanityReport(path: string, netDir: string): Promise<RandomisationReport> {
  const { file, value: r } = await readReportFile<RandomisationReport>(path, REPORT, 'sanity check', "give the folder 'protolens sanity --out' wrote, or its randomisation.json");
  if (r.schema !== SCHEMA || r.version !== 1) throw new InputError(`sanity check ${file}: not a protolens sanity-check report (schema ${String(r.schema)}, version ${String(r.version)}; expected ${SCHEMA} 1)`);
  if (typeof r.network !== 'string' || resolve(r.network) !== resolve(netDir)) {
    throw new InputError(`sanity check ${file}: checks network ${String(r.network)}, not ${resolve(netDir)}`);
  }
  return r as RandomisationReport;
}

const SETS = ['refined', 'initial', 'random'] as const;

/** What a page shows of a report; `prefix` is its folder relative to the page (null: no links). */
export function sanityView(r: RandomisationReport, prefix: string | null): PageSanity {
  const rows: Extract<PageSanity, { status: 'done' }>['rows'] = [];
  for (const set of SETS) {
    const scores = r.sets[set];
    if (!scores) continue;
    for (const score of r.metrics) {
      const v = scores[score];
      if (v) rows.push({ set, score, original: v.original, randomised: v.randomised });
    }
  }
  const steps = r.cascade ?? [];
  const first = steps[0]?.sets.refined ?? {};
  const cascade =
    steps.length > 1
      ? {
          scores: [...r.metrics],
          trained: r.metrics.map((w) => first[w]?.original ?? null),
          steps: steps.map((st) => ({ depth: st.depth, layers: st.layers.map((l) => l.node), values: r.metrics.map((w) => st.sets.refined?.[w]?.randomised ?? null) })),
        }
      : null;
  return {
    status: 'done',
    cascade,
    layers: r.model.layers.map((l) => l.node),
    seconds: r.seconds,
    refinedScoresFell: r.refinedScoresFell,
    rows,
    links: prefix === null ? null : { markdown: `${prefix}/randomisation.md`, json: `${prefix}/randomisation.json` },
  };
}
