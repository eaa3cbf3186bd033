/**
 * The evaluation report (JSON schema 'protolens.evaluation', version 1): what was evaluated, with
 * which settings, every metric's result, and whether the guarantees held.
 */
import type { Failure } from '../../data/types.ts';
import type { PreprocessConfig } from '../../data/preprocess-config.ts';
import type { AxiomsReport } from '../metrics/axioms.ts';
import type { DeletionReport } from '../metrics/deletion.ts';
import type { FidelityReport } from '../metrics/fidelity.ts';
import type { HeadDifference } from '../../network/open.ts';
import type { PartsSetsReport } from '../metrics/parts-sets.ts';
import type { PurityReport } from '../metrics/purity.ts';
import type { PrototypeSetName } from '../context/prototype-sets.ts';

export const EVALUATION_SCHEMA = 'protolens.evaluation';
export const EVALUATION_SCHEMA_VERSION = 1;

/** Metric names as the command takes them. */
export type MetricName = 'fidelity' | 'consistency' | 'stability' | 'distinctiveness' | 'comprehensiveness' | 'purity' | 'deletion' | 'axioms';
export const METRIC_NAMES: readonly MetricName[] = ['fidelity', 'consistency', 'stability', 'distinctiveness', 'comprehensiveness', 'purity', 'deletion', 'axioms'];
/** Metrics run only when asked for: purity scans the training split (a second dataset pass). */
export const OPT_IN_METRICS: readonly MetricName[] = ['purity'];
/** Metrics of the parts pass (CUB layout with parts and boxes); comprehensiveness also needs segmentations/. */
export const PARTS_METRICS: readonly MetricName[] = ['consistency', 'stability', 'distinctiveness', 'comprehensiveness'];

/** Files written with `out`, relative to it (null when not written). */
export interface EvaluationOutputs {
  dir: string;
  report: string;
  markdown: string;
  deletionPlot: string | null;
  consistencyPlot: string | null;
  maps: string | null;
  mapsIndex: string | null;
  purity: string | null;
  purityIndex: string | null;
}

export interface EvaluationReport {
  schema: typeof EVALUATION_SCHEMA;
  version: typeof EVALUATION_SCHEMA_VERSION;
  generator: { name: 'protolens'; version: string };
  network: { dir: string; classes: number; k: number; channels: number; featureMap: [number, number]; allocator: string | null; seed: number | null; residualTerm: boolean };
  model: { path: string; sha256: string; blackBox: 'plain' | 'adapter'; headDifference: HeadDifference };
  dataset: {
    root: string;
    format: string;
    split: string;
    /** Images in the split. */
    size: number;
    /** Images selected (maxImages) and evaluated (decoded). */
    selected: number;
    evaluated: number;
    failures: Failure[];
    classNamesMatch: boolean;
    parts: boolean;
  };
  preprocess: {
    /** The network's own (fidelity, deletion, axioms). */
    network: PreprocessConfig;
    /** The parts protocol's (consistency, stability), or null when those were not run. */
    protocol: PreprocessConfig | null;
    /** One pass served both (the two configs are identical). */
    sharedPass: boolean;
  };
  /** Seed of every random choice (noise, random orders, the random split, linearity weights). */
  seed: number;
  /** Metrics run, as asked (or the default: every one the dataset allows). */
  metricsRun: MetricName[];
  prototypeSets: PrototypeSetName[];
  metrics: {
    fidelity?: FidelityReport;
    parts?: PartsSetsReport;
    purity?: PurityReport;
    deletion?: DeletionReport;
    axioms?: AxiomsReport;
  };
  /** The guarantees: fidelity (agreement 100%, logits within tolerance) and every axiom. */
  checks: { passed: boolean; failures: string[] };
  warnings: string[];
  /**
   * Wall time of this run, and per pass the images and the seconds spent on them (summed over the
   * shards when `mergedShards` is set: the report was merged from that many shards' partial results).
   */
  timing: { seconds: number; passes: { purpose: string; images: number; seconds: number; imagesPerSecond: number }[]; mergedShards?: number };
  outputs: EvaluationOutputs | null;
}
