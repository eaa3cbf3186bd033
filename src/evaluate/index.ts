/** Evaluation: OpenCV-compatible resizing, the parts protocol, noise, deletion/insertion, axioms, metrics. */
export * from './resize-cv2.ts';
export * from './parts-protocol.ts';
export * from './noise.ts';
export * from './deletion.ts';
export * from './axioms.ts';
export * from './metric.ts';
export * from './parts-metric.ts';
export * from './causal-metric.ts';
