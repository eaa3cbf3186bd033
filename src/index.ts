/**
 * protolens library entry: what a program needs to build, read, explain, evaluate, export and view a
 * part-prototype network, and the stages underneath for those who compose their own pipeline. Named
 * exports only; everything else is internal and may move.
 */

// Errors: every user-facing failure is one of these, with the CLI's exit code.
export { ProtolensError, InputError, CheckError, UsageError, ExitCode } from './util/errors.ts';
export { packageVersion } from './util/version.ts';

// The whole pipeline, one call per command.
export { buildNetwork, type BuildResult, type BuildHooks, type BuildProgress } from './builder/build.ts';
export { resolveBuildOptions, type BuildOptions, type ResolvedBuildOptions } from './builder/options.ts';
export { buildSummary, formatBuildSummary, BUILD_SUMMARY_SCHEMA, type BuildSummary } from './builder/summary.ts';
export { Explainer, type ExplainerOptions, type ExplainImagesOptions, type ImageResult, type ImageExplanation, type ImageFailure, type Explanation, type ExplainedTerm, type ScoredClass, type ImageSource } from './explain/explain.ts';
export { explanationDocument, EXPLANATION_SCHEMA, EXPLANATION_SCHEMA_VERSION, type ExplanationDocument, type ImageEntry } from './explain/schema.ts';
export { PictureWriter, type PictureOptions, type ImagePictures } from './explain/report.ts';
export { renderCard, type CardData, type CardOptions } from './explain/card-html.ts';
export { writeCard } from './explain/card.ts';
export { evaluateNetwork, evaluateShard, resolveMetrics, type EvaluateOptions, type EvaluateProgress, type EvaluationShardSummary } from './evaluate/evaluate-network.ts';
export { explainDataset, type ExplainDatasetOptions, type DatasetExplanationSummary, type DatasetImageEntry } from './explain/explain-dataset.ts';
export { randomisationCheck, type RandomisationOptions, type RandomisationReport } from './checks/randomisation.ts';
export { randomiseTopConvolutions, type RandomisedModel } from './model/randomise.ts';
export { selectImages, shardRanges, type ImageSelection, type OrdinalRange } from './data/selection.ts';
export { EVALUATION_SCHEMA, EVALUATION_SCHEMA_VERSION, METRIC_NAMES, type EvaluationReport, type MetricName } from './evaluate/output/report.ts';
export { exportExplainedModel, type ExportExplainedModelOptions, type ExportResult } from './export/onnx-export.ts';
export { startViewer, type ViewerOptions, type Viewer } from './viewer/server.ts';

// The network artifact (manifest.json + prototypes.safetensors + exemplars/).
export { loadNetwork, saveNetwork, exactSumError, NETWORK_SCHEMA, NETWORK_SCHEMA_VERSION, MANIFEST_FILE, TENSORS_FILE, type Network, type NetworkManifest, type NetworkTensors, type ClassSummary } from './network/artifact.ts';
export { openNetwork, openNetworkModel, type OpenedNetwork, type OpenNetworkOptions, type NetworkModel } from './network/open.ts';
export { readNetworkExemplars, EXEMPLAR_INDEX_FILE, type NetworkExemplars, type ExemplarIndex, type ExemplarEntry } from './network/exemplar-index.ts';
export { termMaps, softmax, rankClasses, type TermMaps } from './network/contributions.ts';

// Models and images.
export { loadClassifier, type Classifier, type LoadClassifierOptions, type ClassifierHead, type FeatureMapInfo } from './model/classifier.ts';
export { summarizeClassifier, type ClassifierSummary } from './model/summary.ts';
export { openDataset, type OpenDatasetOptions } from './data/open.ts';
export { type Dataset, type DatasetFormat, type Split } from './data/dataset.ts';
export { type ImageItem, type PartLocation, type BoundingBox, type Failure } from './data/types.ts';
export { makePreprocessConfig, validatePreprocessConfig, NORMALIZE_PRESETS, type PreprocessConfig, type PreprocessOptions } from './data/preprocess-config.ts';
export { loadImage, type LoadedImage } from './data/load.ts';
export { batches, type Batch, type BatchOptions } from './data/batches.ts';
export { generatePartsDataset, type PartsDatasetOptions, type PartsDatasetResult } from './data/synthetic/generate.ts';

// The method's stages.
export { FeatureStore, type ClassFeatures } from './features/store.ts';
export { extractClass, type ExtractOptions } from './features/extract.ts';
export { nmf } from './linalg/nmf/nmf.ts';
export type { NmfOptions, NmfResult } from './linalg/nmf/types.ts';
export { decomposeClass, type ClassInput, type ClassDecomposition } from './prototypes/decompose.ts';
export { decomposeClasses, type ParallelOptions } from './prototypes/parallel.ts';
export { resolveOptions, PAPER_PRESET, DEFAULT_PRESET, type DecomposeOptions, type ResolvedOptions, type Preset } from './prototypes/options.ts';

// Evaluation metrics on the shared interface, for custom evaluations.
export type { Metric, ShardableMetric, EvaluationContext, EvaluationModel, EvaluationBatch } from './evaluate/context/metric.ts';
export { purityMetric, type PurityReport } from './evaluate/metrics/purity.ts';
export { partsMetric } from './evaluate/metrics/parts.ts';
export { fidelityMetric } from './evaluate/metrics/fidelity.ts';
export { deletionMetric } from './evaluate/metrics/deletion.ts';
export { axiomsMetric } from './evaluate/metrics/axioms.ts';

// Files any tool can read.
export { readSafetensors, writeSafetensors, type Tensor } from './io/safetensors.ts';

// Pictures from plain inputs (an RGB image and maps at feature resolution).
export { overlay, crop, boxOnImage } from './pictures/overlay.ts';
export { combinedView } from './pictures/combined.ts';
export { heatmapRgba } from './pictures/heatmap.ts';
