/** Building the network artifact from an ONNX classifier and a training set. */
export { buildNetwork, type BuildHooks, type BuildProgress, type BuildResult } from './build.ts';
export { resolveBuildOptions, defaultCacheDir, DEFAULT_CACHE_NAME, type BuildOptions, type ResolvedBuildOptions } from './options.ts';
export { buildSummary, formatBuildSummary, BUILD_SUMMARY_SCHEMA, type BuildSummary } from './summary.ts';
export { checkUsableClass } from './usable.ts';
export { pathFromNetwork, diagnosticsJson } from '../network/manifest-fields.ts';
