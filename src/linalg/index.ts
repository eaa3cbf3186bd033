/** The linear-algebra engine: NMF (onnxruntime), least squares, NNLS and Nelder-Mead. */
export { nmf } from './nmf/nmf.ts';
export type { NmfCheck, NmfInit, NmfOptions, NmfResidence, NmfResult, NmfSolver } from './nmf/types.ts';
export { nmfMuPlainJs, type PlainNmfOptions } from './nmf/plain.ts';
export { leastSquares, nonNegativeLeastSquares, type LeastSquaresOptions, type LeastSquaresResult, type NonNegativeLeastSquaresOptions } from './least-squares.ts';
export { nelderMead, type NelderMeadOptions, type NelderMeadResult } from './nelder-mead.ts';
