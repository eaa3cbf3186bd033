/**
 * Options of the per-class decomposition (discovery by NMF, scaling, residual split), the named
 * presets, and their validation. Every choice the paper leaves open is one field here; the defaults
 * are the measured ones (docs/method-choices.md).
 */
import { checkedChoice, checkedInteger, checkedNumber, optional } from '../util/options.ts';

/** How the prototypes are scaled to approximate the head vector: least squares (the paper) or NNLS. */
export type Scaling = 'lstsq' | 'nnls';
/**
 * What the split objective compares with the NMF map Norm(F p_i): the map of the residual share r_i
 * alone (`residual`, the paper) or the map of the final prototype alpha_i p_i + r_i (`prototype`).
 */
export type SplitObjective = 'residual' | 'prototype';
/** How the residual R is distributed over the prototypes. */
export type Allocator = 'uniform' | 'nelder-mead' | 'gradient' | 'free' | 'none';
/**
 * Norm of the split objective: `image-l2` divides each image's heatmap (its HW positions) by its
 * L2 norm; `class-l2` divides the concatenated heatmap of all the class's images by one L2 norm.
 */
export type HeatmapNorm = 'image-l2' | 'image-centred' | 'class-l2';
/** Named option sets: `paper` is the formulation of Tan et al.; `default` the measured best. */
export type Preset = 'paper' | 'default';

/** NMF settings passed to the solver (src/linalg/nmf/nmf.ts). */
export interface NmfSettings {
  /** `hals` (coordinate descent) or `mu` (multiplicative updates). Default `hals`. */
  solver?: 'hals' | 'mu';
  /** Iteration cap. Default: the solver's own default. */
  maxIter?: number;
  /** Relative-improvement stopping tolerance. Default: the solver's own default. */
  tol?: number;
  /** Initialisation. Default `nndsvda`. */
  init?: 'nndsvda' | 'random';
}

/** Settings of the `nelder-mead` allocator (channel-softmax split, 2k - 1 parameters). */
export interface NelderMeadSettings {
  /** Objective evaluations per run (each restart included). Default 150 x parameters, at least 400. */
  maxEvaluations?: number;
  /** Restarts from the best point with a fresh simplex. Default 1. */
  restarts?: number;
  /** Initial simplex step in every parameter. Default 4 (affinities lie in [0, 1]). */
  initialStep?: number;
}

/**
 * Settings of the `gradient` allocator: per-channel split weights optimised with the analytic
 * gradient, either directly on the simplices by spectral projected gradient (`spg`) or through
 * softmax logits by L-BFGS (`softmax-lbfgs`).
 */
export interface GradientSettings {
  /** Default `spg` (measured better: the softmax saturates at the simplex's faces and stalls). */
  method?: 'spg' | 'softmax-lbfgs';
  /** Iterations. Default 100 for the `gradient` allocator, 50 for `free` (its L-BFGS). */
  maxIterations?: number;
  /**
   * Relative improvement below which the optimiser stops (spg: of the best value over 10 iterations;
   * softmax-lbfgs: over one iteration). Default 1e-6.
   */
  tolerance?: number;
  /** L-BFGS history length (softmax-lbfgs only). Default 8. */
  memory?: number;
}

/** Options of {@link decomposeClass}. Unset fields take the preset's value, then the default. */
export interface DecomposeOptions {
  /**
   * Prototypes per class, or `auto`: chosen per class from the NMF error curve (choose-k.ts), at
   * most `kMax`. Default 3 (the paper's figures).
   */
  k?: number | 'auto';
  /** `k: 'auto'` only: the largest k considered. Default 10. */
  kMax?: number;
  /**
   * `k: 'auto'` only: a further part is kept while it explains at least this share of the features'
   * energy left unexplained by the first part. Default 0.02.
   */
  kMinGain?: number;
  /**
   * `k: 'auto'` only: a further part is kept while it explains at least this fraction of what the
   * previous part explained (below it, the curve has its elbow). Default 0.1.
   */
  kMinRatio?: number;
  /** Start from a named option set; explicit fields override it. Default `default`. */
  preset?: Preset;
  scaling?: Scaling;
  objective?: SplitObjective;
  allocator?: Allocator;
  norm?: HeatmapNorm;
  /** Seed of every random choice (NMF initialisation, image subsampling). Default 0. */
  seed?: number;
  /** Use at most this many images of the class (a seeded subset, kept in order). Default: all. */
  maxImages?: number;
  nmf?: NmfSettings;
  nelderMead?: NelderMeadSettings;
  gradient?: GradientSettings;
  /**
   * A refined prototype whose part fidelity (cosine of its heatmaps with its NMF part's) is below this
   * is reported: its map no longer shows its part (at -1 it is flipped). Default 0.5; in [-1, 1].
   */
  minPartFidelity?: number;
  /**
   * Allocator `free`: weight of the ridge term ridge x images x sum_i ||r_i - R/k||^2 / ||R||^2, which
   * keeps the shares near the size of the uniform split's (the objective ignores scale). Default 0.01.
   */
  freeRidge?: number;
  /**
   * Allocator `free`: share of the class's images (every m-th) held out of the fit; the iterate with
   * the best held-out objective is kept. 0: off. Default 0.
   */
  freeHoldout?: number;
  /** Weight of the peak term of the split objective (0: off). Default 16 (preset `paper`: 0). */
  peakWeight?: number;
  /** Temperature of the peak term (applied to unit-norm maps). Default 120. */
  peakTemperature?: number;
  /**
   * What a class with such a prototype gets: `report` (default: warned about and flagged in the
   * manifest, summary, report and viewer) or `residual-term` (the class is decomposed again with
   * allocator `none`: each prototype is its scaled NMF part, the residual an explicit extra term).
   */
  lowFidelity?: LowFidelityAction;
}

export type LowFidelityAction = 'report' | 'residual-term';
/** Default largest k of `k: 'auto'`. */
export const DEFAULT_K_MAX = 10;
/** Default floor of a further part's gain, `k: 'auto'` (choose-k.ts). */
export const DEFAULT_K_MIN_GAIN = 0.02;
/** Default elbow ratio of `k: 'auto'` (choose-k.ts). */
export const DEFAULT_K_MIN_RATIO = 0.1;
/** Default part-fidelity threshold below which a refined prototype is reported. */
export const DEFAULT_MIN_PART_FIDELITY = 0.5;

/** Fully resolved options, as recorded in every result. */
export interface ResolvedOptions {
  /** Prototypes per class; with `kAuto`, the largest k considered. */
  k: number;
  /** `k: 'auto'`: k is chosen per class up to `k` (null: k is fixed). */
  kAuto: { minGain: number; minRatio: number } | null;
  preset: Preset;
  scaling: Scaling;
  objective: SplitObjective;
  allocator: Allocator;
  norm: HeatmapNorm;
  seed: number;
  maxImages: number | null;
  nmf: { solver: 'hals' | 'mu'; maxIter: number | null; tol: number | null; init: 'nndsvda' | 'random' };
  nelderMead: { maxEvaluations: number | null; restarts: number; initialStep: number };
  gradient: { method: 'spg' | 'softmax-lbfgs'; maxIterations: number; tolerance: number; memory: number };
  minPartFidelity: number;
  lowFidelity: LowFidelityAction;
  peak: { weight: number; temperature: number };
  freeRidge: number;
  freeHoldout: number;
}

/** The formulation of Tan et al. (least squares, objective on r_i, Nelder-Mead). */
export const PAPER_PRESET = { scaling: 'lstsq', objective: 'residual', allocator: 'nelder-mead', norm: 'image-l2', peakWeight: 0 } as const;
/**
 * The measured default (docs/method-choices.md): NNLS, objective on the final prototype with maps
 * centred per image and the peak term, residual shares in any direction of the features (free split).
 */
export const DEFAULT_PRESET = { scaling: 'nnls', objective: 'prototype', allocator: 'free', norm: 'image-centred', peakWeight: 16 } as const;
/** Default ridge weight of the `free` allocator. */
export const DEFAULT_FREE_RIDGE = 0.01;
/**
 * Default iterations of the `free` allocator's L-BFGS (`gradient.maxIterations`; the `gradient`
 * allocator's default is 100): 50 measured as consistent and stable as 100 on the demo at k = 3
 * and 10, at half the refinement's cost (docs/method-choices.md).
 */
export const DEFAULT_FREE_ITERATIONS = 50;
/** Default iterations of the `gradient` allocator. */
export const DEFAULT_GRADIENT_ITERATIONS = 100;
/** Default temperature of the peak term (on unit-norm maps). */
export const DEFAULT_PEAK_TEMPERATURE = 120;

const PRESETS: Record<Preset, { scaling: Scaling; objective: SplitObjective; allocator: Allocator; norm: HeatmapNorm; peakWeight: number }> = {
  paper: PAPER_PRESET,
  default: DEFAULT_PRESET,
};

const oneOf = <T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T =>
  value === undefined ? fallback : checkedChoice(`option ${name}`, value, allowed);
const integer = (name: string, value: unknown, min: number, fallback: number | null): number | null =>
  optional(value, fallback, (x) => checkedInteger(`option ${name}`, x, min));
const positive = (name: string, value: unknown, fallback: number | null): number | null =>
  optional(value, fallback, (x) => checkedNumber(`option ${name}`, x, { min: 0, exclusiveMin: true }));

/** Validate options and fill in preset values and defaults. Throws InputError naming the option. */
export function resolveOptions(opts: DecomposeOptions = {}): ResolvedOptions {
  const preset = oneOf('preset', opts.preset, ['paper', 'default'] as const, 'default');
  const base = PRESETS[preset];
  const allocator = oneOf('allocator', opts.allocator, ['uniform', 'nelder-mead', 'gradient', 'free', 'none'] as const, base.allocator);
  const seed = optional(opts.seed, 0, (x) => checkedInteger('option seed', x, 0, 0xffffffff));
  return {
    k: opts.k === 'auto' ? (integer('kMax', opts.kMax, 1, DEFAULT_K_MAX) as number) : (integer('k', opts.k, 1, 3) as number),
    kAuto:
      opts.k === 'auto'
        ? {
            minGain: optional(opts.kMinGain, DEFAULT_K_MIN_GAIN, (x) => checkedNumber('option kMinGain', x, { min: 0, max: 1 })),
            minRatio: optional(opts.kMinRatio, DEFAULT_K_MIN_RATIO, (x) => checkedNumber('option kMinRatio', x, { min: 0, max: 1 })),
          }
        : null,
    preset,
    scaling: oneOf('scaling', opts.scaling, ['lstsq', 'nnls'] as const, base.scaling),
    objective: oneOf('objective', opts.objective, ['residual', 'prototype'] as const, base.objective),
    allocator,
    norm: oneOf('norm', opts.norm, ['image-l2', 'image-centred', 'class-l2'] as const, base.norm),
    seed,
    maxImages: integer('maxImages', opts.maxImages, 1, null),
    nmf: {
      solver: oneOf('nmf.solver', opts.nmf?.solver, ['hals', 'mu'] as const, 'hals'),
      maxIter: integer('nmf.maxIter', opts.nmf?.maxIter, 1, null),
      tol: positive('nmf.tol', opts.nmf?.tol, null),
      init: oneOf('nmf.init', opts.nmf?.init, ['nndsvda', 'random'] as const, 'nndsvda'),
    },
    nelderMead: {
      maxEvaluations: integer('nelderMead.maxEvaluations', opts.nelderMead?.maxEvaluations, 1, null),
      restarts: integer('nelderMead.restarts', opts.nelderMead?.restarts, 0, 1) as number,
      initialStep: positive('nelderMead.initialStep', opts.nelderMead?.initialStep, 4) as number,
    },
    gradient: {
      method: oneOf('gradient.method', opts.gradient?.method, ['spg', 'softmax-lbfgs'] as const, 'spg'),
      maxIterations: integer('gradient.maxIterations', opts.gradient?.maxIterations, 0, allocator === 'free' ? DEFAULT_FREE_ITERATIONS : DEFAULT_GRADIENT_ITERATIONS) as number,
      tolerance: positive('gradient.tolerance', opts.gradient?.tolerance, 1e-6) as number,
      memory: integer('gradient.memory', opts.gradient?.memory, 1, 8) as number,
    },
    minPartFidelity: optional(opts.minPartFidelity, DEFAULT_MIN_PART_FIDELITY, (x) => checkedNumber('option minPartFidelity', x, { min: -1, max: 1 })),
    lowFidelity: oneOf('lowFidelity', opts.lowFidelity, ['report', 'residual-term'] as const, 'report'),
    freeRidge: optional(opts.freeRidge, DEFAULT_FREE_RIDGE, (x) => checkedNumber('option freeRidge', x, { min: 0 })),
    freeHoldout: optional(opts.freeHoldout, 0, (x) => checkedNumber('option freeHoldout', x, { min: 0, max: 0.5 })),
    peak: {
      weight: optional(opts.peakWeight, base.peakWeight, (x) => checkedNumber('option peakWeight', x, { min: 0 })),
      temperature: positive('peakTemperature', opts.peakTemperature, DEFAULT_PEAK_TEMPERATURE) as number,
    },
  };
}

/**
 * The options that resolve to `r` again (resolveOptions(decomposeOptionsOf(r)) equals r): how a
 * recorded manifest's options are given back to a rebuild (the sanity check's).
 */
export function decomposeOptionsOf(r: ResolvedOptions): DecomposeOptions {
  const nmf: NmfSettings = { solver: r.nmf.solver, init: r.nmf.init, ...(r.nmf.maxIter !== null ? { maxIter: r.nmf.maxIter } : {}), ...(r.nmf.tol !== null ? { tol: r.nmf.tol } : {}) };
  return {
    ...(r.kAuto ? { k: 'auto' as const, kMax: r.k, kMinGain: r.kAuto.minGain, kMinRatio: r.kAuto.minRatio } : { k: r.k }),
    preset: r.preset,
    scaling: r.scaling,
    objective: r.objective,
    allocator: r.allocator,
    norm: r.norm,
    seed: r.seed,
    ...(r.maxImages !== null ? { maxImages: r.maxImages } : {}),
    nmf,
    nelderMead: { restarts: r.nelderMead.restarts, initialStep: r.nelderMead.initialStep, ...(r.nelderMead.maxEvaluations !== null ? { maxEvaluations: r.nelderMead.maxEvaluations } : {}) },
    gradient: { ...r.gradient },
    minPartFidelity: r.minPartFidelity,
    lowFidelity: r.lowFidelity,
    peakWeight: r.peak.weight,
    peakTemperature: r.peak.temperature,
    freeRidge: r.freeRidge,
    freeHoldout: r.freeHoldout,
  };
}
