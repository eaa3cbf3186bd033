/**
 * site.json: everything the static site's page needs besides the model and the pictures, written by
 * `writeSite` and read by the browser app (src/site/browser/app.ts). Plain JSON; paths are relative
 * to the site folder with '/' separators.
 */
import type { PreprocessConfig } from '../data/preprocess-config.ts';

/** Schema name and version of site.json. */
export const SITE_SCHEMA = 'protolens.site';
export const SITE_SCHEMA_VERSION = 1;
export const SITE_DATA_FILE = 'site.json';
export const SITE_MODEL_FILE = 'model.onnx';
/** The browser app's module, next to index.html. */
export const SITE_APP_FILE = 'site-app.js';
/** Folder of onnxruntime-web's files inside the site, and the files the page loads from it. */
export const SITE_ORT_DIR = 'ort';
export const SITE_ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'] as const;
/** onnxruntime-web's wasm-only ES module. */
export const SITE_ORT_MODULE = `${SITE_ORT_DIR}/${SITE_ORT_FILES[0]}`;

/** One exemplar patch: pictures relative to the site folder. */
export interface SiteExemplar {
  crop: string;
  context: string;
  /** The training image it was cut from, as recorded by the build (dataset-relative). */
  image: string;
  score: number;
}

export interface SiteData {
  schema: typeof SITE_SCHEMA;
  version: number;
  /** 'protolens x.y.z'. */
  generator: string;
  title: string;
  classNames: string[];
  /** Prototype rows per class (the largest class's k). */
  k: number;
  /** Prototypes of each class (k 'auto': fewer than k for some; the other rows contribute 0). Absent: k. */
  prototypeCounts?: number[];
  preprocess: PreprocessConfig;
  model: {
    /** The explained ONNX model (protolens export, heatmaps of every class). */
    file: string;
    bytes: number;
    sha256: string;
    /** Name and SHA-256 of the classifier it was exported from. */
    source: { name: string; sha256: string };
    input: { name: string; layout: 'NCHW' | 'NHWC'; channels: number; height: number; width: number };
    /** Output names of the explained model. */
    outputs: { logits: string; contributions: string; bias: string; heatmaps: string; residualContribution: string | null; residualHeatmaps: string | null };
    featureMap: { height: number; width: number };
  };
  explain: {
    /** Classes listed on a card. */
    top: number;
    /** Percentile of the strongest-region boxes. */
    percentile: number;
    /** Relative tolerance of the completeness check (as `protolens explain`). */
    tolerance: number;
    /** Largest decoded image, in pixels. */
    maxPixels: number;
    /** Largest accepted file, in bytes. */
    maxFileBytes: number;
  };
  /** Exemplar patches by class, then prototype, best first. */
  exemplars: SiteExemplar[][][];
  ort: {
    /** onnxruntime-web's version. */
    version: string;
    /** Its ES module, relative to the site. */
    module: string;
    /** Folder of its .wasm and .mjs files, relative to the site. */
    wasmPaths: string;
  };
}
