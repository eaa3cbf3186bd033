/**
 * The JSON document `protolens explain --json` prints (and writes as explanations.json with --out):
 * schema `protolens.explanation`, version 1. One entry per image, in the order the images were given;
 * an image that could not be explained has status 'failed' and its reason. Field by field in
 * docs/explain.md. Additive changes keep the version; renaming or removing a field raises it.
 */
import type { PreprocessConfig } from '../data/preprocess-config.ts';
import type { ExplainedTerm, ImageResult } from './explain.ts';
import type { Box } from '../pictures/percentile.ts';

export const EXPLANATION_SCHEMA = 'protolens.explanation';
export const EXPLANATION_SCHEMA_VERSION = 1;

/** A reported class: one of the top T by logit. */
export interface ClassEntry {
  /** 1 = highest logit. Equal logits rank in class order. */
  rank: number;
  /** Class index (position in the network's class names and the model's logits). */
  index: number;
  name: string;
  /** The model's own logit (float32 from onnxruntime). */
  logit: number;
  /** Softmax over all classes' logits (float64). */
  probability: number;
}

/** An exemplar patch of a prototype, from the network's exemplar index. */
export interface ExemplarEntryJson {
  /** The training image, relative to the dataset root recorded in the network. */
  image: string;
  /** max over positions of x p~_i on that training image. */
  score: number;
  /** The patch PNG, relative to the network folder; with --out also relative to `out` (copied there under the same path). */
  crop: string;
  /** The context PNG (whole training image with the box), same base as `crop`. */
  context: string;
}

/** One prototype's share of the explained logit on this image. */
export interface PrototypeEntry {
  /** Prototype index within its class (0-based, as in the network). */
  prototype: number;
  /** mean over feature-map positions of x p~_i^T. */
  contribution: number;
  /** contribution / logit; null when |logit| < 1e-9. */
  share: number | null;
  /** Strongest region in input pixels (x, y, width, height; edges inclusive); null when boxes are off. */
  box: Box | null;
  exemplars: ExemplarEntryJson[];
  /** The overlay PNG, relative to `out` (only with --out). */
  overlay?: string;
  /** The heatmap x p~_i^T at feature resolution, row-major featureMap.height x featureMap.width (only with --heatmaps). */
  heatmap?: number[];
}

/** The decomposition of the explained class's logit. */
export interface ExplainedEntry {
  index: number;
  name: string;
  /** Rank of the explained class among all classes (1 = predicted). */
  rank: number;
  logit: number;
  probability: number;
  /** 'predicted' (default) or 'option' (chosen with --class). */
  selectedBy: 'predicted' | 'option';
  bias: number;
  prototypes: PrototypeEntry[];
  /** The residual term's contribution (networks built with allocator 'none'), else null. */
  residual: { contribution: number; share: number | null; heatmap?: number[] } | null;
  /** sum of contributions + residual + bias (float64). */
  sum: number;
  /** sum - logit: float rounding only (checked against the tolerance). */
  difference: number;
}

export interface ExplainedImageEntry {
  /** Position in the list of images given (0-based). */
  index: number;
  /** The image as given. */
  image: string;
  status: 'ok';
  /** The top T classes, best first. */
  classes: ClassEntry[];
  predicted: { index: number; name: string };
  explained: ExplainedEntry;
  featureMap: { height: number; width: number };
  /** Pictures relative to `out` (only with --out). */
  pictures?: { card: string; input: string; combined: string };
  /** Remarks about this image (e.g. used whole although the network crops to boxes). */
  notes?: string[];
}

export interface FailedImageEntry {
  index: number;
  image: string;
  status: 'failed';
  /** Why, e.g. 'truncated JPEG 500 x 375 (no end-of-image marker)', 'file not found'. */
  error: string;
}

export type ImageEntry = ExplainedImageEntry | FailedImageEntry;

export interface ExplanationDocument {
  schema: typeof EXPLANATION_SCHEMA;
  version: typeof EXPLANATION_SCHEMA_VERSION;
  generator: { name: 'protolens'; version: string };
  network: {
    /** Absolute path of the network folder. */
    dir: string;
    classes: number;
    /** Prototypes per class. */
    k: number;
    /** The build's seed (explaining draws no random numbers). */
    seed: number;
    allocator: string | null;
  };
  model: { path: string; sha256: string };
  /** The preprocessing the images went through (the network's, as recorded). */
  preprocess: PreprocessConfig;
  settings: {
    /** Classes reported per image (min(--top, C)). */
    top: number;
    /** The class given with --class, or null (explain the predicted class). */
    class: string | null;
    /** Percentile of the strongest-region boxes. */
    percentile: number;
    /** Relative tolerance of the completeness check. */
    tolerance: number;
  };
  /** Absolute output folder of pictures and cards, or null without --out. */
  out: string | null;
  /** index.html relative to `out`, or null. */
  index: string | null;
  summary: { images: number; explained: number; failed: number };
  images: ImageEntry[];
  /** The failed images again, for a quick look. */
  failures: { index: number; image: string; error: string }[];
}

/** Header fields of a document (everything but the per-image lists and counts). */
export type DocumentHeader = Omit<ExplanationDocument, 'summary' | 'images' | 'failures'>;

/** The full document from its header and the entries in input order. */
export function explanationDocument(header: DocumentHeader, images: readonly ImageEntry[]): ExplanationDocument {
  const failures = images.filter((e): e is FailedImageEntry => e.status === 'failed').map((e) => ({ index: e.index, image: e.image, error: e.error }));
  return {
    ...header,
    summary: { images: images.length, explained: images.length - failures.length, failed: failures.length },
    images: [...images],
    failures,
  };
}

const heatmapJson = (m: Float32Array): number[] => Array.from(m);

function exemplarsJson(t: ExplainedTerm): ExemplarEntryJson[] {
  return t.exemplars.map((e) => ({ image: e.image, score: e.score, crop: e.crop, context: e.context }));
}

/** The JSON entry of one result. `heatmaps` adds each prototype's feature-resolution heatmap. */
export function imageEntry(r: ImageResult, opts: { heatmaps?: boolean } = {}): ImageEntry {
  if (r.status === 'failed') return { index: r.index, image: r.image, status: 'failed', error: r.reason };
  const e = r.explained;
  const pics = r.pictures;
  const prototypes: PrototypeEntry[] = e.prototypes.map((t, i) => ({
    prototype: t.prototype,
    contribution: t.contribution,
    share: t.share,
    box: t.box,
    exemplars: exemplarsJson(t),
    ...(pics ? { overlay: pics.overlays[i] } : {}),
    ...(opts.heatmaps ? { heatmap: heatmapJson(t.heatmap) } : {}),
  }));
  const residual = e.residual
    ? { contribution: e.residual.contribution, share: e.residual.share, ...(opts.heatmaps ? { heatmap: heatmapJson(e.residual.heatmap) } : {}) }
    : null;
  const entry: ExplainedImageEntry = {
    index: r.index,
    image: r.image,
    status: 'ok',
    classes: r.top.map((c) => ({ rank: c.rank, index: c.index, name: c.name, logit: c.logit, probability: c.probability })),
    predicted: { index: r.predicted.index, name: r.predicted.name },
    explained: {
      index: e.index,
      name: e.name,
      rank: e.rank,
      logit: e.logit,
      probability: e.probability,
      selectedBy: e.selectedBy,
      bias: e.bias,
      prototypes,
      residual,
      sum: e.sum,
      difference: e.difference,
    },
    featureMap: { ...r.featureMap },
  };
  if (pics) entry.pictures = { card: pics.card, input: pics.input, combined: pics.combined };
  if (r.notes.length > 0) entry.notes = [...r.notes];
  return entry;
}
