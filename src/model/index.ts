/** The ONNX classifier adapter: head detection, graph surgery, the feature + logits session, synthetic nets. */
export * from './classifier.ts';
export * from './head.ts';
export * from './input.ts';
export * from './logit-check.ts';
export * from './surgery.ts';
export * from './summary.ts';
export * from '../../test/helpers/synthetic-nets.ts';
export { GraphIndex, type NodeRef, type DeclaredDim } from './graph.ts';
