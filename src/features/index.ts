/** Feature maps: streamed per-class extraction and the on-disk per-class cache. */
export { FeatureStore, cacheKeyHash, FEATURE_CACHE_VERSION, type FeatureCacheKey, type ClassFeatures, type ItemFailure } from './store.ts';
export { extractClass, checkPreprocessFits, throwIfAborted, BuildInterrupted, DEFAULT_EXTRACT_BATCH, type ExtractOptions } from './extract.ts';
export { extractClasses, type ExtractClassesOptions, type ExtractClassesHooks, type ExtractClassesReport, type ClassExtraction } from './extract-classes.ts';
export { capItems, fingerprintItems } from './selection.ts';
