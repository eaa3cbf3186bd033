/** protolens library entry: everything a program needs, typed. */
export * from './util/errors.ts';
export { Rng } from './util/random.ts';
export { Progress, type ProgressOptions } from './util/progress.ts';
export * from './io/safetensors.ts';
export { writeFileAtomic, writeJsonAtomic } from './io/atomic.ts';
export * from './model/index.ts';
export * from './data/index.ts';
export * from './data/synthetic/index.ts';
export * from './linalg/index.ts';
export * from './prototypes/index.ts';
export * from './network/artifact.ts';
export * from './features/index.ts';
export * from './builder/index.ts';
export * from './explain/index.ts';
export * from './evaluate/index.ts';
export * from './export/onnx-export.ts';
export * from './viewer/index.ts';
