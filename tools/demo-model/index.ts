/**
 * Training the project's own demo models with tfjs on the WebAssembly backend (Node): the backend
 * set-up with its gradient kernels, the conv-BN-ReLU / GAP / linear CNN, the training loop, and the
 * end-to-end demo-model pipeline (dataset -> training -> ONNX export -> parity check).
 */
export * from './wasm-backend.ts';
export * from './conv2d-backprop-filter.ts';
export * from './conv2d-backprop-input.ts';
export * from './batch-norm.ts';
export * from './model.ts';
export * from './augment.ts';
export * from './train.ts';
export * from './data.ts';
export * from './demo-model.ts';
