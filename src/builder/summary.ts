/**
 * The build summary: what `protolens build --json` prints, and what the text report is made from.
 */
import { join } from 'node:path';
import { MANIFEST_FILE } from '../network/artifact.ts';
import type { BuildResult, ShardResult } from './build.ts';

export const BUILD_SUMMARY_SCHEMA = 'protolens.build/1';

export interface BuildSummary {
  schema: typeof BUILD_SUMMARY_SCHEMA;
  network: string;
  manifest: string;
  model: { path: string; sha256: string };
  dataset: { root: string; format: string; split: string };
  classes: number;
  k: number;
  /** Training images used, over all classes. */
  images: number;
  /** Skipped (undecodable) images: count and list. A build with skipped images is still a valid network. */
  failures: { count: number; items: { path: string; reason: string }[] };
  warnings: string[];
  options: Record<string, unknown>;
  seed: number;
  headCheck: { relError: number; tolerance: number };
  /** Mean over classes of the mean part fidelity (cosine of each refined prototype's map with its NMF map). */
  meanPartFidelity: number | null;
  /** Prototypes whose part fidelity fell below the threshold, per class (class index, prototype, fidelity), and the classes that fell back to a residual term. */
  lowFidelity: { threshold: number | null; prototypes: { class: number; name: string; prototype: number; partFidelity: number | null }[]; fallbackClasses: number[] };
  extraction: { classesExtracted: number; classesCached: number; imagesExtracted: number; imagesFailed: number; seconds: number; imagesPerSecond: number | null; headCheck: { relError: number; images: number; tolerance: number } | null };
  /** Classes decomposed in this run and classes whose result came from the results cache (earlier builds or shards). */
  decomposition: { seconds: number; threads: number; classesComputed: number; classesFromCache: number };
  exemplars: { perPrototype: number; percentile: number; index: string; pictures: number; seconds: number } | null;
  /** True when the network was assembled from cached results only (nothing extracted or decomposed). */
  assembled: boolean;
  cache: string;
  /** The results folder the network was assembled from. */
  results: string;
  peakRssMB: number;
  /** CPU seconds of the process (user + system, all threads). */
  cpuSeconds: number;
  seconds: number;
}

function extractionJson(ex: BuildResult['extraction']): BuildSummary['extraction'] {
  return {
    ...ex,
    headCheck: ex.headCheck ? { relError: ex.headCheck.relError, images: ex.headCheck.images, tolerance: ex.headCheck.tolerance } : null,
    imagesPerSecond: ex.imagesExtracted > 0 && ex.seconds > 0 ? (ex.imagesExtracted + ex.imagesFailed) / ex.seconds : null,
  };
}

/** The summary of a finished build. */
export function buildSummary(r: BuildResult): BuildSummary {
  const m = r.manifest;
  const fid = m.classes.map((c) => c.diagnostics.meanPartFidelity).filter((v): v is number => typeof v === 'number');
  const ex = r.extraction;
  return {
    schema: BUILD_SUMMARY_SCHEMA,
    network: r.dir,
    manifest: join(r.dir, MANIFEST_FILE),
    model: { path: m.model.path, sha256: m.model.sha256 },
    dataset: { root: m.dataset.root, format: m.dataset.format, split: m.dataset.split },
    classes: m.classNames.length,
    k: m.k,
    images: r.images,
    failures: { count: r.failures.length, items: r.failures },
    warnings: r.warnings,
    options: m.options,
    seed: m.seed,
    headCheck: { relError: r.headCheck.relError, tolerance: r.headCheck.tolerance },
    meanPartFidelity: fid.length ? fid.reduce((a, b) => a + b, 0) / fid.length : null,
    lowFidelity: lowFidelityOf(m.classes),
    extraction: extractionJson(ex),
    decomposition: r.decomposition,
    exemplars: m.exemplars && r.exemplars ? { ...m.exemplars, ...r.exemplars } : null,
    assembled: r.assembled,
    cache: r.cacheDir,
    results: r.resultsDir,
    peakRssMB: Math.round(r.peakRssBytes / 1048576),
    cpuSeconds: r.cpuSeconds,
    seconds: r.seconds,
  };
}

interface LowFidelityJson {
  threshold: number;
  prototypes: number[];
  partFidelity: (number | null)[];
  fallback: string | null;
}

/** The low-fidelity prototypes recorded in the manifest's per-class diagnostics. */
export function lowFidelityOf(classes: readonly { index: number; name: string; diagnostics: Record<string, unknown> }[]): BuildSummary['lowFidelity'] {
  let threshold: number | null = null;
  const prototypes: BuildSummary['lowFidelity']['prototypes'] = [];
  const fallbackClasses: number[] = [];
  for (const c of classes) {
    const lf = c.diagnostics.lowFidelity as LowFidelityJson | undefined;
    if (!lf) continue;
    threshold = lf.threshold;
    lf.prototypes.forEach((p, j) => prototypes.push({ class: c.index, name: c.name, prototype: p, partFidelity: lf.partFidelity[j] ?? null }));
    if (lf.fallback) fallbackClasses.push(c.index);
  }
  return { threshold, prototypes, fallbackClasses };
}

/** The human-readable report of a build. */
export function formatBuildSummary(s: BuildSummary): string {
  const ex = s.extraction;
  const rows: [string, string][] = [
    ['network', s.network],
    ['model', `${s.model.path} (sha256 ${s.model.sha256.slice(0, 12)}...)`],
    ['dataset', `${s.dataset.root} (${s.dataset.format}, split ${s.dataset.split})`],
    ['classes', `${s.classes}, k = ${s.k} prototypes each, ${s.images} training images`],
    ['extraction', `${ex.classesExtracted} classes extracted (${ex.imagesExtracted} images${ex.imagesPerSecond ? `, ${ex.imagesPerSecond.toFixed(1)} images/s` : ''}), ${ex.classesCached} from the cache`],
    ['head check', `random input: relative error ${s.headCheck.relError.toExponential(2)}${ex.headCheck ? `; ${ex.headCheck.images} training images: ${ex.headCheck.relError.toExponential(2)}` : ''} (tolerance ${s.headCheck.tolerance})`],
    ['decomposition', `${decompositionLine(s.decomposition)}${s.meanPartFidelity !== null ? `, mean part fidelity ${s.meanPartFidelity.toFixed(3)}` : ''}`],
    ['low fidelity', lowFidelityLine(s.lowFidelity)],
    ['exemplars', s.exemplars ? `up to ${s.exemplars.perPrototype} per prototype, ${s.exemplars.pictures} pictures (${s.exemplars.index})` : 'none'],
    ['skipped images', s.failures.count === 0 ? 'none' : `${s.failures.count} (listed in the manifest)`],
    ...(s.assembled ? [['assembled', 'from cached results only: nothing extracted or decomposed in this run'] as [string, string]] : []),
    ['cache', s.cache],
    ['time', `${s.seconds.toFixed(1)} s (CPU ${s.cpuSeconds.toFixed(1)} s), peak RSS ${s.peakRssMB} MB`],
  ];
  return table(rows);
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n') + '\n';
}

function decompositionLine(d: BuildSummary['decomposition']): string {
  const s = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 'es'}`;
  return `${s(d.classesComputed, 'class')} decomposed (${d.seconds.toFixed(1)} s on ${d.threads} thread${d.threads === 1 ? '' : 's'}), ${d.classesFromCache} from the results cache`;
}

export const SHARD_SUMMARY_SCHEMA = 'protolens.build-shard/1';

/** What `protolens build --shard I/N --json` prints. */
export interface ShardSummary {
  schema: typeof SHARD_SUMMARY_SCHEMA;
  shard: { index: number; count: number; source: string };
  /** The classes this shard owns (indices). */
  classes: number[];
  plan: string;
  images: number;
  failures: { count: number; items: { path: string; reason: string }[] };
  warnings: string[];
  headCheck: { relError: number; tolerance: number };
  extraction: BuildSummary['extraction'];
  decomposition: BuildSummary['decomposition'];
  exemplars: { pictures: number; seconds: number } | null;
  cache: string;
  results: string;
  peakRssMB: number;
  cpuSeconds: number;
  seconds: number;
}

export function shardSummary(r: ShardResult): ShardSummary {
  return {
    schema: SHARD_SUMMARY_SCHEMA,
    shard: { index: r.shard.index, count: r.shard.count, source: r.shard.source },
    classes: r.classes,
    plan: r.plan,
    images: r.images,
    failures: { count: r.failures.length, items: r.failures },
    warnings: r.warnings,
    headCheck: { relError: r.headCheck.relError, tolerance: r.headCheck.tolerance },
    extraction: extractionJson(r.extraction),
    decomposition: r.decomposition,
    exemplars: r.exemplars,
    cache: r.cacheDir,
    results: r.resultsDir,
    peakRssMB: Math.round(r.peakRssBytes / 1048576),
    cpuSeconds: r.cpuSeconds,
    seconds: r.seconds,
  };
}

export function formatShardSummary(s: ShardSummary): string {
  const ex = s.extraction;
  return table([
    ['shard', `${s.shard.index}/${s.shard.count} (${s.shard.source}): ${s.classes.length} classes, ${s.images} training images`],
    ['extraction', `${ex.classesExtracted} classes extracted (${ex.imagesExtracted} images${ex.imagesPerSecond ? `, ${ex.imagesPerSecond.toFixed(1)} images/s` : ''}), ${ex.classesCached} from the feature cache`],
    ['decomposition', decompositionLine(s.decomposition)],
    ['exemplars', s.exemplars ? `${s.exemplars.pictures} pictures (${s.exemplars.seconds.toFixed(1)} s)` : 'none'],
    ['skipped images', s.failures.count === 0 ? 'none' : `${s.failures.count}`],
    ['results', s.results],
    ['network', 'not written by a shard: when every shard is done, run the same build without --shard to assemble it'],
    ['time', `${s.seconds.toFixed(1)} s (CPU ${s.cpuSeconds.toFixed(1)} s), peak RSS ${s.peakRssMB} MB`],
  ]);
}

/** "none", or how many prototypes fell below the threshold, the worst few, and any fallback. */
function lowFidelityLine(lf: BuildSummary['lowFidelity']): string {
  if (lf.prototypes.length === 0) return `none${lf.threshold !== null ? ` (every prototype's part fidelity >= ${lf.threshold})` : ''}`;
  const worst = [...lf.prototypes].sort((a, b) => (a.partFidelity ?? -Infinity) - (b.partFidelity ?? -Infinity)).slice(0, 3);
  const list = worst.map((p) => `${p.name} #${p.prototype} (${p.partFidelity === null ? 'NaN' : p.partFidelity.toFixed(2)})`).join(', ');
  const fb = lf.fallbackClasses.length ? `; ${lf.fallbackClasses.length} class(es) fell back to a residual term` : '';
  return `${lf.prototypes.length} prototype(s) below part fidelity ${lf.threshold}: ${list}${lf.prototypes.length > 3 ? ', ...' : ''}${fb}`;
}
