/**
 * Everything the demo page shows, as plain data (no file access): `renderDemoPage` turns it into
 * HTML. Picture paths are relative to the page's folder (POSIX separators).
 */

/** One exemplar patch of a prototype. */
export interface PageExemplar {
  /** The patch (the strongest-region box cut from the training image as the model saw it). */
  crop: string;
  /** The whole training image with the box and a faint heatmap. */
  context: string;
  /** Source image, relative to the dataset root. */
  image: string;
  score: number;
}

/** The part a prototype lands on most often in its class's test images (the parts protocol). */
export interface PagePartHit {
  /** Part name as in parts/parts.txt, e.g. 'nape'. */
  name: string;
  /** Fraction of the class's test images where the part is visible and inside the prototype's region. */
  rate: number;
  /** rate reaches the consistency threshold. */
  consistent: boolean;
}

export interface PagePrototype {
  index: number;
  /** Cosine between the refined prototype's heatmaps and its NMF part's (build diagnostics). */
  partFidelity: number | null;
  /** Below the build's part-fidelity threshold: the refined heatmap no longer follows its NMF part. */
  lowFidelity: boolean;
  /** NMF scaling alpha_i. */
  alpha: number | null;
  exemplars: PageExemplar[];
  /** From the evaluation (null when it did not run). */
  dominantPart: PagePartHit | null;
  /** Fraction of the class's test images whose part hits are unchanged under input noise (null: not run). */
  stability: number | null;
  /** PIP-Net purity of its top training patches, with the part it is of (null: not run). */
  purity: { value: number; part: string | null } | null;
}

/** A class's look, by body part, with the swatch colour of coloured attributes. */
export interface PageAttribute {
  part: string;
  text: string;
  colour: string | null;
}

export interface PageClass {
  index: number;
  /** Folder-style name, e.g. '001.Black_headed_Fantail'. */
  name: string;
  attributes: PageAttribute[];
  /** Test images of the class classified, and how many correctly. */
  testImages: number;
  testCorrect: number;
  /** Training images whose features built the prototypes. */
  trainImages: number;
  /** From the evaluation, over the class's test images, refined prototypes (null: not run or no image). */
  distinctiveness: number | null;
  comprehensiveness: number | null;
  diagnostics: {
    nmfRelError: number | null;
    residualRatio: number | null;
    objectiveRatio: number | null;
    meanPartFidelity: number | null;
    partFidelityUniformMean: number | null;
  };
  prototypes: PagePrototype[];
}

/** One explained test image. */
export interface PageExplanation {
  /** Image path relative to the dataset root. */
  image: string;
  reason: string;
  label: number;
  predicted: number;
  probability: number;
  /** The class explained (the predicted one). */
  explainedClass: number;
  logit: number;
  bias: number;
  contributions: number[];
  /** For a misclassified image: the true class's own decomposition. */
  trueClass: { logit: number; bias: number; contributions: number[] } | null;
  card: string;
  /** The image as the model saw it (input size). */
  input: string;
  /** Per prototype of the explained class: its heatmap over the image with the strongest-region box. */
  overlays: string[];
}

export interface PageSetScores {
  name: string;
  label: string;
  consistency: number;
  consistentPrototypes: number;
  prototypes: number;
  stability: number | null;
  /** PNP's distinctiveness and comprehensiveness (null: not run, or no image to score). */
  distinctiveness: number | null;
  comprehensiveness: number | null;
  /** PIP-Net's mean purity (0-1; null: not run). */
  purity: number | null;
}

/** The evaluation as the page shows it. */
export type PageEvaluation =
  | {
      status: 'done';
      images: number;
      seconds: number;
      seed: number;
      fidelity: { images: number; blackBoxTop1: number; networkTop1: number; agreement: number; maxAbsLogitDiff: number; pass: boolean } | null;
      parts: {
        images: number;
        variant: string;
        halfSize: number;
        inputSize: [number, number];
        threshold: number;
        stabilityVariant: string;
        noiseStd: number;
        noiseEps: number | null;
        /** Distinctiveness's box side, or null when it did not run. */
        boxSize: number | null;
        comprehensiveness: boolean;
        /** Purity's settings, or null when it did not run. */
        purity: { topK: number; patch: number; images: number } | null;
        sets: PageSetScores[];
      } | null;
      deletion: { images: number; rows: { label: string; deletion: number | null; insertion: number | null }[]; beatsRandom: { mode: string; fraction: number }[] } | null;
      axioms: { axiom: string; pass: boolean; images: number; checks: number; worstError: number; tolerance: number }[] | null;
      plots: { consistency: string | null; deletion: string | null };
      links: { markdown: string | null; json: string | null };
      checks: { passed: boolean; failures: string[] };
    }
  | { status: 'unavailable' | 'skipped' | 'failed'; reason: string };

/** The model-randomisation sanity check as the page shows it (src/checks/randomisation.ts). */
export type PageSanity =
  | {
      status: 'done';
      /** The convolutions redrawn, e.g. "Conv 'block5_conv'". */
      layers: string[];
      seconds: number;
      refinedScoresFell: boolean;
      /** Per prototype set and score: the original network's and the randomised one's. */
      rows: { set: string; score: string; original: number | null; randomised: number | null }[];
      /**
       * The cascade (more than one step: 1, 2, ... convolutions redrawn): the refined prototypes' scores
       * (in `scores` order) of the trained model and after each step.
       */
      cascade: { scores: string[]; trained: (number | null)[]; steps: { depth: number; layers: string[]; values: (number | null)[] }[] } | null;
      /** The report's files relative to the page (null: the page cannot link them, as in the viewer). */
      links: { markdown: string; json: string } | null;
    }
  | { status: 'skipped' | 'failed'; reason: string };

export interface PageStep {
  name: string;
  seconds: number;
  note?: string;
}

export interface DemoPageData {
  model: {
    name: string;
    file: string;
    sha256: string;
    architecture: string | null;
    parameters: number | null;
    input: [number, number];
    featureMap: { height: number; width: number; channels: number };
    preprocess: string;
  };
  dataset: {
    classes: number;
    train: number;
    test: number;
    seed: number;
    generatorVersion: string;
    /** The images are exactly those the model was trained and tested on. */
    sameAsTraining: boolean;
    contactSheet: string | null;
  };
  build: {
    k: number;
    preset: string;
    allocator: string;
    scaling: string;
    objective: string;
    seed: number;
    images: number;
    exemplars: number;
    percentile: number;
    meanPartFidelity: number | null;
    manifest: string;
  };
  classNames: string[];
  classes: PageClass[];
  accuracy: { images: number; correct: number; misclassified: number };
  explanations: PageExplanation[];
  explanationsIndex: string | null;
  /** The static site (protolens site) of the network: its index.html relative to the page, or null when it was not written. */
  site: { index: string; megabytes: number } | null;
  evaluation: PageEvaluation;
  sanity: PageSanity;
  /** `cached`: the dataset and the features came from the cache (not a run from scratch). */
  timing: { steps: PageStep[]; seconds: number; cached: boolean; loadAverage: number[]; cpus: number; node: string; date: string };
  command: string;
  warnings: string[];
}
