/**
 * A plain-JSON description of a loaded classifier (what `protolens inspect --json` prints): no
 * weights, only what was found and measured. Field meanings are documented in docs/model.md.
 */
import type { Classifier, FeatureMapInfo, HeadCheck } from './classifier.ts';
import type { FoldedOp, LinearInfo, PoolingInfo } from './head.ts';
import type { ModelInput } from './input.ts';

/** Version tag of the summary object's layout. */
export const SUMMARY_SCHEMA = 'protolens.inspect/1';

export interface ClassifierSummary {
  schema: typeof SUMMARY_SCHEMA;
  model: { path: string; sha256: string; opset: number };
  input: ModelInput;
  head: {
    pooling: PoolingInfo;
    linear: LinearInfo;
    foldedOps: FoldedOp[];
    /** Nodes from pooling to logits as `Op 'name'`. */
    path: string[];
    numClasses: number;
    featureDim: number;
    /** Frobenius norm of the folded W and the range of b, to compare runs at a glance. */
    weightNorm: number;
    biasRange: [number, number];
  };
  features: FeatureMapInfo;
  logits: { tensor: string; isGraphOutput: boolean };
  /** Fixed batch size (runs are split to it), or null when any batch works. */
  maxBatch: number | null;
  check: HeadCheck;
}

export function summarizeClassifier(c: Classifier): ClassifierSummary {
  let sq = 0;
  for (const w of c.head.W) sq += w * w;
  let lo = Infinity, hi = -Infinity;
  for (const v of c.head.b) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return {
    schema: SUMMARY_SCHEMA,
    model: { path: c.path, sha256: c.sha256, opset: c.opset },
    input: c.input,
    head: {
      pooling: c.head.pooling,
      linear: c.head.linear,
      foldedOps: c.head.foldedOps,
      path: c.head.path.map((p) => `${p.op} '${p.name}'`),
      numClasses: c.head.numClasses,
      featureDim: c.head.featureDim,
      weightNorm: Math.sqrt(sq),
      biasRange: [lo, hi],
    },
    features: c.features,
    logits: { tensor: c.logitsOutput, isGraphOutput: c.logitsIsGraphOutput },
    maxBatch: c.maxBatch,
    check: c.headCheck,
  };
}
