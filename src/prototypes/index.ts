/** Part-prototypes: per-class discovery by NMF and exact decomposition of the head vector. */
export { decomposeClass, classLabel, type ClassInput, type ClassDecomposition, type DecompositionDiagnostics } from './decompose.ts';
export { decomposeClasses, decomposeClassesStream, type ClassSource, type ClassLoader, type ClassProgress, type ParallelOptions } from './parallel.ts';
export {
  resolveOptions,
  PAPER_PRESET,
  DEFAULT_PRESET,
  type DecomposeOptions,
  type ResolvedOptions,
  type Scaling,
  type SplitObjective,
  type Allocator,
  type HeatmapNorm,
  type Preset,
  type NmfSettings,
  type NelderMeadSettings,
  type GradientSettings,
} from './options.ts';
export { refinePrototypes, type RefineInput, type Refinement } from './refine.ts';
export { EXACTNESS_TOLERANCE, storeExactSum, verifyExactSum, type ExactSum } from './exact-sum.ts';
export { normalizeMaps, mapFidelity, HeatmapObjective, NORM_GUARD, type Groups } from './heatmap-objective.ts';
