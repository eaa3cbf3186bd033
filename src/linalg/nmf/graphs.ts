/**
 * ONNX graphs that run NMF in onnxruntime. The factor E (n x k) is carried transposed, as
 * Et (k x n), so that both HALS half-steps are the same row sweep over a k x m matrix and every
 * row is contiguous.
 *
 * - Iterate model: inputs M (int64 scalar: iterations to run), Et0 (k x n), P0 (k x d), and F
 *   (n x d) unless F is baked in as an initializer. A Loop runs M full iterations (E then P) of
 *   the chosen solver; after it the graph computes rowErr (n) = per-row ||F - E P||^2 directly
 *   (no cancellation), so one run = several iterations + one error check.
 * - Range model (randomised SVD): inputs F (n x d) and Q (d x l); outputs Z = F Q (n x l) and
 *   W = F^T Z (d x l). Every product has a narrow (l-column) output, which
 *   onnxruntime's GEMM splits over rows only, so the bits do not depend on the thread count.
 */
import { buildModel, int64Tensor, node, tensor, valueInfo } from '../../onnx/builder.ts';
import { DataType, type NodeProto, type TensorProto } from '../../onnx/proto.ts';
import { floatInitializer, graphAttribute } from '../engine.ts';
import type { NmfSolver } from './types.ts';

/** Floor of every denominator in the updates, so a zero Gram diagonal or MU denominator gives a finite (zero) step. */
export const TINY = 1e-30;

/** Shapes and switches of one iterate model. */
export interface IterateGraphSpec {
  solver: NmfSolver;
  n: number;
  d: number;
  k: number;
  /** When given, F is baked into the model as an initializer; otherwise it is the input "F". */
  bakedF?: Float32Array;
}

class Nodes {
  readonly list: NodeProto[] = [];
  private counter = 0;
  constructor(private readonly prefix: string) {}
  /** Add a node with fresh output names; returns them. */
  add(op: string, inputs: string[], outputs = 1, attrs: Parameters<typeof node>[3] = {}): string[] {
    const names = Array.from({ length: outputs }, () => `${this.prefix}${op.toLowerCase()}_${this.counter++}`);
    this.list.push(node(op, [...inputs], [...names], attrs));
    return names;
  }
  one(op: string, inputs: string[], attrs: Parameters<typeof node>[3] = {}): string {
    return this.add(op, inputs, 1, attrs)[0];
  }
}

/**
 * One HALS block-coordinate sweep over the rows of X (k x m), given the k x k Gram M of the fixed
 * factor and its k x m cross-product T with F: x_j <- max(0, x_j + (T_j - M_j X) / M_jj), rows in
 * order, each update using the rows already updated (Gauss-Seidel), as in scikit-learn's
 * coordinate descent. With Mn = M / diag(M) and Tn = T / diag(M) precomputed this is
 * x_j <- relu(x_j + Tn_j - Mn_j X). A component whose Gram diagonal is 0 (its partner row is all
 * zero) keeps x_j unchanged, so it can come back to life at the partner's next update.
 */
function halsSweep(g: Nodes, X: string, M: string, T: string, k: number): string {
  const inv = g.one('Reciprocal', [g.one('Max', [g.one('ReduceSum', [g.one('Mul', [M, 'eye']), 'axis1'], { keepdims: 1 }), 'tiny'])]); // k x 1
  const split = (name: string) => (k === 1 ? [name] : g.add('Split', [name], k, { axis: 0 }));
  const rows = split(X);
  const mRows = split(g.one('Mul', [M, inv]));
  const tRows = split(g.one('Mul', [T, inv]));
  for (let j = 0; j < k; j++) {
    const current = j === 0 || k === 1 ? X : g.one('Concat', rows, { axis: 0 });
    const step = g.one('Sub', [tRows[j], g.one('MatMul', [mRows[j], current])]);
    rows[j] = g.one('Relu', [g.one('Add', [rows[j], step])]);
  }
  return k === 1 ? rows[0] : g.one('Concat', rows, { axis: 0 });
}

/** The Loop body of one full iteration: E (as Et) first, then P, like scikit-learn. */
function iterationBody(spec: IterateGraphSpec): { nodes: NodeProto[]; et: string; p: string } {
  const g = new Nodes('b_');
  const { solver, k } = spec;
  // The two products with F. Baked F is the B operand, which onnxruntime pre-packs (fixed
  // K-blocking, so the bits do not depend on the thread count). F as an input is the A operand
  // with a k-column output, which the GEMM splits over rows only (again thread-count-stable);
  // the small transposes are cheap next to the products.
  const baked = spec.bakedF !== undefined;
  const crossP = (pIn: string) => (baked ? g.one('Gemm', [pIn, 'F'], { transB: 1 }) : g.one('Transpose', [g.one('Gemm', ['F', pIn], { transB: 1 })], { perm: [1, 0] }));
  const crossE = (etIn: string) => (baked ? g.one('MatMul', [etIn, 'F']) : g.one('Transpose', [g.one('Gemm', ['F', etIn], { transA: 1, transB: 1 })], { perm: [1, 0] }));
  const C = g.one('Gemm', ['p_in', 'p_in'], { transB: 1 }); // P P^T, k x k
  const Gt = crossP('p_in'); // P F^T, k x n
  let et: string;
  if (solver === 'hals') et = halsSweep(g, 'et_in', C, Gt, k);
  else et = g.one('Mul', ['et_in', g.one('Div', [Gt, g.one('Max', [g.one('MatMul', [C, 'et_in']), 'tiny'])])]);
  const A = g.one('Gemm', [et, et], { transB: 1 }); // Et Et^T = E^T E, k x k
  const B = crossE(et); // E^T F, k x d
  let p: string;
  if (solver === 'hals') p = halsSweep(g, 'p_in', A, B, k);
  else p = g.one('Mul', ['p_in', g.one('Div', [B, g.one('Max', [g.one('MatMul', [A, 'p_in']), 'tiny'])])]);
  g.list.push(node('Identity', ['cond_in'], ['cond_out']));
  return { nodes: g.list, et, p };
}

/** Serialise the iterate model of {@link IterateGraphSpec}. */
export function iterateModel(spec: IterateGraphSpec): Uint8Array {
  const { n, d, k } = spec;
  const body = iterationBody(spec);
  const eye = new Float32Array(k * k);
  for (let i = 0; i < k; i++) eye[i * k + i] = 1;
  const bodyOut = [node('Identity', [body.et], ['et_out']), node('Identity', [body.p], ['p_out'])];
  const loop = node('Loop', ['M', '', 'Et0', 'P0'], ['Et', 'P']);
  loop.attribute = [
    graphAttribute('body', {
      name: 'nmf_iteration',
      node: [...body.nodes, ...bodyOut],
      input: [valueInfo('iter', [], DataType.INT64), valueInfo('cond_in', [], DataType.BOOL), valueInfo('et_in', [k, n]), valueInfo('p_in', [k, d])],
      output: [valueInfo('cond_out', [], DataType.BOOL), valueInfo('et_out', [k, n]), valueInfo('p_out', [k, d])],
    }),
  ];
  const g = new Nodes('e_');
  const EP = g.one('Gemm', ['Et', 'P'], { transA: 1 }); // n x d
  g.list.push(node('ReduceSumSquare', [g.one('Sub', ['F', EP])], ['rowErr'], { axes: [1], keepdims: 0 }));
  const initializers: TensorProto[] = [tensor('tiny', [], [TINY])];
  if (spec.solver === 'hals') initializers.push(tensor('eye', [k, k], eye), int64Tensor('axis1', [1]));
  const inputs = [valueInfo('M', [], DataType.INT64), valueInfo('Et0', [k, n]), valueInfo('P0', [k, d])];
  if (spec.bakedF) initializers.push(floatInitializer('F', [n, d], spec.bakedF));
  else inputs.push(valueInfo('F', [n, d]));
  return buildModel({
    name: `nmf_${spec.solver}`,
    nodes: [loop, ...g.list],
    inputs,
    outputs: [valueInfo('Et', [k, n]), valueInfo('P', [k, d]), valueInfo('rowErr', [n])],
    initializers,
  });
}

/** Serialise the range model of the randomised SVD (F and Q as inputs). */
export function rangeModel(n: number, d: number, l: number): Uint8Array {
  return buildModel({
    name: 'nmf_range',
    nodes: [node('MatMul', ['F', 'Q'], ['Z']), node('Gemm', ['F', 'Z'], ['W'], { transA: 1 })],
    inputs: [valueInfo('F', [n, d]), valueInfo('Q', [d, l])],
    outputs: [valueInfo('W', [d, l]), valueInfo('Z', [n, l])],
  });
}
