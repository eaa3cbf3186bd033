/**
 * Head detection: pure analysis of an ONNX graph that finds global average pooling followed by one
 * linear layer, folds the affine ops around that layer into it, and returns W (C x D) and b (C)
 * with logits = W * mean_positions(features) + b.
 *
 * Recognised, in order along the head:
 *  - pooling: GlobalAveragePool; AveragePool with no padding (its kernel must cover the whole map,
 *    checked at run time); ReduceMean over the spatial axes of NCHW or NHWC, or over the token axis
 *    of N x T x D (axes as attribute or, from opset 18, as input; keepdims 0 or 1), also as two
 *    ReduceMeans over one spatial axis each (x.mean(3).mean(2)); ReduceSum over the same axes (a sum
 *    is H x W times the mean: the factor is folded into W once the map's size is known);
 *  - between pooling and the linear layer: Identity, Dropout, Flatten, Reshape, Squeeze, Unsqueeze,
 *    Transpose (shape only), and BatchNormalization and Mul / Add / Sub / Div by scalar or
 *    per-channel constants (folded);
 *  - the linear layer: Gemm (transB 0 or 1, alpha, beta, with or without C), MatMul with an
 *    optional Add of a constant bias, or a 1 x 1 Conv on the pooled 1 x 1 map; several of them in a
 *    row with only shape and affine ops between (a product of linear maps is one linear map);
 *  - after it, up to the logits: shape ops and per-class affine ops (folded). The logits tensor is
 *    the first graph output on that chain (or the chain's end when it reaches a graph output only
 *    through Softmax, ArgMax and the like, in which case it becomes an extra session output).
 */
import { type NodeProto } from '../onnx/proto.ts';
import { InputError } from '../util/errors.ts';
import { composeAffine, foldHead, type AffineStep } from './fold.ts';
import { GraphIndex, formatNodes, intsAttr, nodeLabel, nodeRef, numAttr, attr, type NodeRef } from './graph.ts';
import { ShapeStepError, constantBroadcast, flatten, formatShape, reshape, squeeze, transpose, unsqueeze, type SizeRequirement, type Sym, type SymShape } from './symbolic-shape.ts';

/** How the pooled tensor is laid out: channels-first map, channels-last map, or N x T x D tokens. */
export type FeatureMapLayout = 'NCHW' | 'NHWC' | 'NTD';

export interface PoolingInfo {
  op: 'GlobalAveragePool' | 'ReduceMean' | 'AveragePool' | 'ReduceSum';
  node: string;
  /** The pooled tensor: the feature map. */
  input: string;
  output: string;
  layout: FeatureMapLayout;
  /** Rank of the pooled tensor (4 for maps, 3 for tokens): declared in the model, or implied by the axes. */
  rank: number;
  /** Reduced axes, non-negative. */
  axes: number[];
  keepdims: boolean;
  axesSource: 'implicit' | 'attribute' | 'input';
  /** AveragePool only: its kernel, which must equal the feature map's H x W. */
  kernel?: [number, number];
}

export interface LinearInfo {
  op: 'Gemm' | 'MatMul' | 'Conv';
  node: string;
  weight: string;
  weightShape: number[];
  /** Constant holding the bias (Gemm C, Conv B, or the Add operand after MatMul); null when none. */
  bias: string | null;
  /** The Add node that carries a MatMul's bias. */
  biasNode: string | null;
  transA?: number;
  transB?: number;
  alpha?: number;
  beta?: number;
  /** Further linear layers composed into this one (Linear -> Linear with no activation between). */
  then?: { op: string; node: string; weight: string }[];
}

/** An affine op folded into W and b. */
export interface FoldedOp {
  op: string;
  node: string;
  where: 'before-linear' | 'after-linear';
  broadcast: 'scalar' | 'per-channel' | 'per-class';
}

export interface DetectedHead {
  pooling: PoolingInfo;
  linear: LinearInfo;
  foldedOps: FoldedOp[];
  /** Every node from the pooling to the logits, in order. */
  path: NodeRef[];
  /** C x D, row-major. */
  W: Float32Array;
  /** C. */
  b: Float32Array;
  numClasses: number;
  featureDim: number;
  featureTensor: string;
  featureLayout: FeatureMapLayout;
  /** Whether the feature map is non-negative by construction, and the op that makes it so. */
  nonNegative: boolean;
  nonNegativeBy: string | null;
  logitsTensor: string;
  logitsIsGraphOutput: boolean;
  /** Graph outputs computed from the logits (the logits output itself included). */
  reachesOutputs: string[];
  /** A batch size the head's Reshape fixes (e.g. Reshape to [1, -1]); null when any batch works. */
  batchFixedByHead: number | null;
}

export interface DetectHeadOptions {
  /** Graph output (or tensor) holding the logits; needed when several heads are found. */
  logitsOutput?: string;
  /** True when the model's batch dimension is fixed to 1 (the batch axis is then a literal 1). */
  batchIsOne?: boolean;
}

/** How many graph nodes an error message lists from the end of the graph. */
const TAIL_NODES = 8;

const SHAPE_OPS = new Set(['Identity', 'Dropout', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose']);
const AFFINE_OPS = new Set(['Mul', 'Add', 'Sub', 'Div']);
/** Ops that may sit between the logits and a graph output without changing what the logits are. */
const TRAILING_OPS = new Set(['Softmax', 'LogSoftmax', 'Sigmoid', 'ArgMax', 'TopK', 'Cast', 'Exp', 'Neg', ...SHAPE_OPS, ...AFFINE_OPS]);
/** Ops through which a non-negative map stays non-negative. */
const SIGN_KEEPING_OPS = new Set(['Identity', 'Dropout', 'Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Slice', 'Gather', 'MaxPool']);
const NON_NEGATIVE_OPS = new Set(['Relu', 'Sigmoid', 'Softplus', 'Abs', 'Exp']);
/** Ops whose output is non-negative when every input is (Inception's Concat of ReLU branches, residual sums). */
const ALL_INPUTS_OPS = new Set(['Concat', 'Max', 'Add', 'Sum', 'Mul']);
/** Pooling ops that keep the sign of a non-negative map. */
const POOLING_OPS = new Set(['AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'MaxPool']);

interface Chain {
  tensor: string;
  shape: SymShape;
  /** Symbolic shapes of every tensor on the head so far (shared along a search), for Shape ops. */
  known: Map<string, SymShape>;
  steps: AffineStep[];
  folded: FoldedOp[];
  path: NodeProto[];
  requires: SizeRequirement[];
}

type StepResult = { ok: Chain } | { reject: string };

class Reject extends Error {}

function sameAxes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Which layout a mean over `axes` pools, for a tensor of the declared rank (or rank 4, then 3). */
export function classifyPoolingAxes(axes: number[], declaredRank: number | null): { layout: FeatureMapLayout; rank: number; axes: number[] } | null {
  const tryRank = (r: number) => {
    const norm = [...new Set(axes.map((a) => (a < 0 ? a + r : a)))].sort((x, y) => x - y);
    if (norm.some((a) => a < 0 || a >= r)) return null;
    if (r === 4 && sameAxes(norm, [2, 3])) return { layout: 'NCHW' as const, rank: 4, axes: norm };
    if (r === 4 && sameAxes(norm, [1, 2])) return { layout: 'NHWC' as const, rank: 4, axes: norm };
    if (r === 3 && sameAxes(norm, [1])) return { layout: 'NTD' as const, rank: 3, axes: norm };
    return null;
  };
  if (declaredRank !== null) return tryRank(declaredRank);
  return tryRank(4) ?? tryRank(3);
}

function poolingOf(g: GraphIndex, n: NodeProto): PoolingInfo | null {
  const input = n.input?.[0];
  const output = n.output?.[0];
  if (!input || !output) return null;
  const declared = g.declaredShape(input);
  const declaredRank = declared ? declared.length : null;
  const base = { node: n.name || output, input, output };
  if (n.opType === 'GlobalAveragePool') {
    if (declaredRank !== null && declaredRank !== 4) return null;
    return { ...base, op: 'GlobalAveragePool', layout: 'NCHW', rank: 4, axes: [2, 3], keepdims: true, axesSource: 'implicit' };
  }
  if (n.opType === 'AveragePool') {
    const k = intsAttr(n, 'kernel_shape');
    const pads = intsAttr(n, 'pads') ?? [];
    const autoPad = attr(n, 'auto_pad');
    if (!k || k.length !== 2 || pads.some((p) => p !== 0) || (autoPad !== undefined && autoPad !== 'NOTSET' && autoPad !== 'VALID')) return null;
    if (declaredRank !== null && declaredRank !== 4) return null;
    return { ...base, op: 'AveragePool', layout: 'NCHW', rank: 4, axes: [2, 3], keepdims: true, axesSource: 'implicit', kernel: [k[0], k[1]] };
  }
  if (n.opType === 'ReduceMean' || n.opType === 'ReduceSum') {
    const r = reduceAxes(g, n);
    if (!r) return null;
    // The second half of x.mean(3).mean(2) is part of the pooling found at the first half.
    const prev = g.producer.get(input);
    const prevAxes = prev?.opType === 'ReduceMean' ? reduceAxes(g, prev) : null;
    if (prev && prevAxes?.axes.length === 1 && twoStepMean(g, prev, prevAxes.axes[0], g.declaredShape(prev.input?.[0] ?? '')?.length ?? null, prevAxes.source)) return null;
    const cls = classifyPoolingAxes(r.axes, declaredRank);
    if (cls) return { ...base, op: n.opType, ...cls, keepdims: numAttr(n, 'keepdims', 1) !== 0, axesSource: r.source };
    if (n.opType === 'ReduceMean' && r.axes.length === 1) return twoStepMean(g, n, r.axes[0], declaredRank, r.source);
  }
  return null;
}

function reduceAxes(g: GraphIndex, n: NodeProto): { axes: number[]; source: PoolingInfo['axesSource'] } | null {
  if (n.input?.[1]) {
    const c = g.constant(n.input[1]);
    return c && c.data.length > 0 ? { axes: Array.from(c.data), source: 'input' } : null;
  }
  const axes = intsAttr(n, 'axes');
  return axes && axes.length > 0 ? { axes, source: 'attribute' } : null;
}

/**
 * x.mean(3).mean(2): a ReduceMean over one spatial axis of a rank-4 map whose only consumer is a
 * ReduceMean over the other one. Both keep their dims, or neither does. Read as one pooling from the
 * first one's input to the second one's output.
 */
function twoStepMean(g: GraphIndex, first: NodeProto, axis: number, declaredRank: number | null, source: PoolingInfo['axesSource']): PoolingInfo | null {
  if (declaredRank !== null && declaredRank !== 4) return null;
  const a1 = axis < 0 ? axis + 4 : axis;
  const cons = g.consumersOf(first.output?.[0] ?? '');
  if (cons.length !== 1 || cons[0].opType !== 'ReduceMean' || g.isGraphOutput(first.output![0])) return null;
  const second = cons[0];
  const r2 = reduceAxes(g, second);
  if (!r2 || r2.axes.length !== 1) return null;
  const k1 = numAttr(first, 'keepdims', 1) !== 0;
  const k2 = numAttr(second, 'keepdims', 1) !== 0;
  if (k1 !== k2) return null;
  const rank2 = k1 ? 4 : 3;
  let a2 = r2.axes[0] < 0 ? r2.axes[0] + rank2 : r2.axes[0];
  if (a2 < 0 || a2 >= rank2) return null;
  if (!k1 && a2 >= a1) a2 += 1; // back to the axis of the original map
  const cls = classifyPoolingAxes([a1, a2], 4);
  if (!cls) return null;
  return { op: 'ReduceMean', node: second.name || second.output![0], input: first.input![0], output: second.output![0], ...cls, keepdims: k1, axesSource: source };
}

function pooledShape(p: PoolingInfo, batchIsOne: boolean): SymShape {
  const N = batchIsOne ? 1 : 'N';
  if (!p.keepdims) return [N, 'D'];
  if (p.layout === 'NCHW') return [N, 'D', 1, 1];
  if (p.layout === 'NHWC') return [N, 1, 1, 'D'];
  return [N, 1, 'D'];
}

function constantOrReject(g: GraphIndex, n: NodeProto, tensor: string | undefined, what: string) {
  const c = tensor ? g.constant(tensor) : null;
  if (!c) throw new Reject(`${nodeLabel(n)}: its ${what} '${tensor ?? ''}' is not a constant`);
  return c;
}

function axesOf(g: GraphIndex, n: NodeProto): number[] | undefined {
  if (n.input?.[1]) return Array.from(constantOrReject(g, n, n.input[1], 'axes input').data);
  return intsAttr(n, 'axes');
}

/**
 * The value of a 1-D shape tensor: a constant, or computed from Shape of a tensor on the head
 * (whose symbolic shape is known) through Gather, Slice, Unsqueeze, Squeeze, Concat, Cast, Identity.
 * Null when it depends on anything else.
 */
export function shapeVector(g: GraphIndex, name: string, known: Map<string, SymShape>, depth: number): (number | Sym)[] | null {
  if (!name || depth > 16) return null;
  const c = g.constant(name);
  if (c) return Array.from(c.data);
  const p = g.producer.get(name);
  if (!p) return null;
  const ins = p.input ?? [];
  const sub = (t: string | undefined) => shapeVector(g, t ?? '', known, depth + 1);
  switch (p.opType) {
    case 'Shape': {
      const s = known.get(ins[0] ?? '');
      if (!s) return null;
      const norm = (v: number) => Math.min(s.length, Math.max(0, v < 0 ? v + s.length : v));
      const end = attr(p, 'end');
      return s.slice(norm(numAttr(p, 'start', 0)), typeof end === 'number' ? norm(end) : s.length);
    }
    case 'Gather': {
      const data = sub(ins[0]) ?? batchOnly(g, ins[0]);
      const idx = ins[1] ? g.constant(ins[1]) : null;
      if (!data || !idx || numAttr(p, 'axis', 0) !== 0) return null;
      const out = Array.from(idx.data, (i) => data[i < 0 ? i + data.length : i]);
      return out.some((v) => v === undefined) ? null : out;
    }
    case 'Slice': {
      const data = sub(ins[0]) ?? batchOnly(g, ins[0]);
      if (!data) return null;
      const arg = (i: number, name: string) => (ins[i] ? g.constant(ins[i])?.data[0] : intsAttr(p, name)?.[0]);
      const [start, end, axis, step] = [arg(1, 'starts'), arg(2, 'ends'), arg(3, 'axes') ?? 0, arg(4, 'steps') ?? 1];
      if (start === undefined || end === undefined || axis !== 0 || step !== 1) return null;
      const norm = (v: number) => Math.min(data.length, Math.max(0, v < 0 ? v + data.length : v));
      const out = Array.from(data.slice(norm(start), norm(end)));
      return out.includes(undefined as never) ? null : out;
    }
    case 'Concat': {
      const parts = ins.map((t) => sub(t));
      return parts.every((x) => x !== null) ? (parts as (number | Sym)[][]).flat() : null;
    }
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Cast':
    case 'Identity':
      return sub(ins[0]);
    default:
      return null;
  }
}

/**
 * Shape(t)[0] of a tensor t off the head (the input image, a backbone map: x.view(input.size(0), -1)):
 * the batch size, as every tensor of an image classifier's backbone is batch-first. Only element 0 is
 * known; the sparse array makes any use of the others fail (null), so nothing else is assumed.
 */
function batchOnly(g: GraphIndex, shapeTensor: string | undefined): (number | Sym)[] | null {
  const p = g.producer.get(shapeTensor ?? '');
  if (!p || p.opType !== 'Shape' || numAttr(p, 'start', 0) !== 0) return null;
  const v = new Array<number | Sym>(64); // a hole at every index but 0, negative indices included
  v[0] = 'N';
  return v;
}

/** Shape-only ops: the values of the pooled vector (or logits) pass through unchanged. */
function shapeStep(g: GraphIndex, n: NodeProto, ch: Chain): Chain {
  let shape = ch.shape;
  const requires = [...ch.requires];
  switch (n.opType) {
    case 'Identity':
    case 'Dropout':
      break;
    case 'Flatten':
      shape = flatten(shape, numAttr(n, 'axis', 1));
      break;
    case 'Reshape': {
      const target = shapeVector(g, n.input?.[1] ?? '', ch.known, 0);
      if (!target) throw new Reject(`${nodeLabel(n)}: its shape input '${n.input?.[1] ?? ''}' is neither a constant nor computed from the shape of the pooled features by Shape / Gather / Slice / Unsqueeze / Concat`);
      const r = reshape(shape, target, nodeLabel(n));
      shape = r.shape;
      if (r.batchToOne) requires.push({ sym: 'N', size: 1, node: nodeLabel(n) });
      requires.push(...r.requires);
      break;
    }
    case 'Squeeze':
      shape = squeeze(shape, axesOf(g, n));
      break;
    case 'Unsqueeze': {
      const axes = axesOf(g, n);
      if (!axes) throw new Reject(`${nodeLabel(n)} has no axes`);
      shape = unsqueeze(shape, axes);
      break;
    }
    case 'Transpose':
      shape = transpose(shape, intsAttr(n, 'perm'));
      break;
  }
  return { ...ch, tensor: n.output![0], shape, requires, path: [...ch.path, n] };
}

/** Mul / Add / Sub / Div by a constant, or inference BatchNormalization, on axis D or C. */
function affineStep(g: GraphIndex, n: NodeProto, ch: Chain, axis: 'D' | 'C'): Chain {
  const label = nodeLabel(n);
  const where = axis === 'D' ? 'before-linear' : 'after-linear';
  const perAxis = axis === 'D' ? 'per-channel' : 'per-class';
  if (n.opType === 'BatchNormalization') {
    if (n.input?.[0] !== ch.tensor) throw new Reject(`${label} normalises a tensor other than the features`);
    if (numAttr(n, 'training_mode', 0) !== 0) throw new Reject(`${label} runs in training mode`);
    if (ch.shape.length < 2 || ch.shape[1] !== axis) throw new Reject(`${label} normalises axis 1 of ${formatShape(ch.shape)}, not the ${axis === 'D' ? 'channel' : 'class'} axis`);
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => constantOrReject(g, n, n.input?.[i], ['scale', 'bias', 'mean', 'var'][i - 1]));
    const L = scale.data.length;
    if ([bias, mean, variance].some((c) => c.data.length !== L)) throw new Reject(`${label}: scale, bias, mean and var differ in length`);
    const eps = numAttr(n, 'epsilon', 1e-5);
    const a = new Float64Array(L);
    const t = new Float64Array(L);
    for (let i = 0; i < L; i++) {
      a[i] = scale.data[i] / Math.sqrt(variance.data[i] + eps);
      t[i] = bias.data[i] - mean.data[i] * a[i];
    }
    return {
      ...ch, tensor: n.output![0], path: [...ch.path, n],
      steps: [...ch.steps, { kind: 'mul', values: a, source: label }, { kind: 'add', values: t, source: label }],
      folded: [...ch.folded, { op: n.opType, node: n.name || n.output![0], where, broadcast: L === 1 ? 'scalar' : perAxis }],
    };
  }
  const [x, y] = [n.input?.[0] ?? '', n.input?.[1] ?? ''];
  if (x === ch.tensor && y === ch.tensor) throw new Reject(`${label} combines the features with themselves (not linear)`);
  const idx = x === ch.tensor ? 0 : 1;
  const otherName = idx === 0 ? y : x;
  const c = g.constant(otherName);
  if (!c) throw new Reject(`${label} combines the features with the computed tensor '${otherName}' (not a constant, so not linear)`);
  const bc = constantBroadcast(ch.shape, c.dims, axis);
  const values = bc.kind === 'scalar' ? Float64Array.of(c.data[0]) : c.data;
  let step: AffineStep;
  const source = label;
  switch (n.opType) {
    case 'Mul': step = { kind: 'mul', values, source }; break;
    case 'Add': step = { kind: 'add', values, source }; break;
    case 'Sub': step = idx === 0 ? { kind: 'add', values: values.map((v) => -v), source } : { kind: 'rsub', values, source }; break;
    default: // Div
      if (idx === 1) throw new Reject(`${label} divides by the features (not linear)`);
      if (values.some((v) => v === 0)) throw new Reject(`${label} divides by a constant containing 0`);
      step = { kind: 'mul', values: values.map((v) => 1 / v), source };
  }
  return {
    ...ch, tensor: n.output![0], shape: bc.shape, path: [...ch.path, n], steps: [...ch.steps, step],
    folded: [...ch.folded, { op: n.opType ?? '', node: n.name || n.output![0], where, broadcast: bc.kind === 'scalar' ? 'scalar' : perAxis }],
  };
}

/** One step along the head for a node consuming the tracked tensor; null when the op is not one of the head's. */
function foldableStep(g: GraphIndex, n: NodeProto, ch: Chain, axis: 'D' | 'C'): StepResult | null {
  const op = n.opType ?? '';
  if (!SHAPE_OPS.has(op) && !AFFINE_OPS.has(op) && op !== 'BatchNormalization') return null;
  if (SHAPE_OPS.has(op) && n.input?.[0] !== ch.tensor) return { reject: `${nodeLabel(n)} uses the features as a parameter` };
  try {
    const next = SHAPE_OPS.has(op) ? shapeStep(g, n, ch) : affineStep(g, n, ch, axis);
    next.known.set(next.tensor, next.shape);
    return { ok: next };
  } catch (e) {
    if (e instanceof Reject) return { reject: e.message };
    if (e instanceof ShapeStepError) return { reject: `${nodeLabel(n)}: ${e.message}` };
    throw e;
  }
}

interface LinearFound {
  info: LinearInfo;
  W: Float64Array;
  b: Float64Array;
  C: number;
  D: number;
  chain: Chain;
}

function linearStep(g: GraphIndex, n: NodeProto, ch: Chain): LinearFound {
  const label = nodeLabel(n);
  const name = n.name || n.output![0];
  if (n.input?.[0] !== ch.tensor) throw new Reject(`${label} takes the pooled features as a weight, not as its data input`);
  const weightName = n.input?.[1] ?? '';
  const Wc = constantOrReject(g, n, weightName, 'weight');
  const biasName = n.input?.[2] || null;
  let W: Float64Array, C: number, D: number, shape: SymShape;
  let info: LinearInfo;
  let biasScale = 1;
  if (n.opType === 'Gemm') {
    const transA = numAttr(n, 'transA', 0), transB = numAttr(n, 'transB', 0), alpha = numAttr(n, 'alpha', 1), beta = numAttr(n, 'beta', 1);
    if (transA !== 0) throw new Reject(`${label} has transA = 1 (the pooled features would be transposed)`);
    if (ch.shape.length !== 2 || ch.shape[1] !== 'D') throw new Reject(`${label} receives the pooled features as ${formatShape(ch.shape)}; expected N x D`);
    if (Wc.dims.length !== 2) throw new Reject(`${label}: weight '${weightName}' has rank ${Wc.dims.length}; expected 2`);
    [C, D] = transB ? [Wc.dims[0], Wc.dims[1]] : [Wc.dims[1], Wc.dims[0]];
    W = new Float64Array(C * D);
    for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) W[c * D + d] = alpha * (transB ? Wc.data[c * D + d] : Wc.data[d * C + c]);
    shape = [ch.shape[0], 'C'];
    biasScale = beta;
    info = { op: 'Gemm', node: name, weight: weightName, weightShape: Wc.dims, bias: biasName, biasNode: null, transA, transB, alpha, beta };
  } else if (n.opType === 'MatMul') {
    if (ch.shape[ch.shape.length - 1] !== 'D' || ch.shape.slice(0, -1).some((s) => s !== 'N' && s !== 1)) throw new Reject(`${label} receives the pooled features as ${formatShape(ch.shape)}; expected channels on the last axis`);
    if (Wc.dims.length !== 2) throw new Reject(`${label}: weight '${weightName}' has rank ${Wc.dims.length}; expected 2`);
    [D, C] = Wc.dims;
    W = new Float64Array(C * D);
    for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) W[c * D + d] = Wc.data[d * C + c];
    shape = [...ch.shape.slice(0, -1), 'C'];
    info = { op: 'MatMul', node: name, weight: weightName, weightShape: Wc.dims, bias: null, biasNode: null };
  } else {
    // Conv with a 1 x 1 kernel on the pooled N x D x 1 x 1 map.
    if (ch.shape.length !== 4 || ch.shape[1] !== 'D' || ch.shape[2] !== 1 || ch.shape[3] !== 1) throw new Reject(`${label} receives ${formatShape(ch.shape)}; a Conv head needs the pooled N x D x 1 x 1 map`);
    if (Wc.dims.length !== 4 || Wc.dims[2] !== 1 || Wc.dims[3] !== 1) throw new Reject(`${label}: weight '${weightName}' has shape [${Wc.dims.join(', ')}]; expected C x D x 1 x 1`);
    if (numAttr(n, 'group', 1) !== 1) throw new Reject(`${label} is a grouped convolution`);
    if ((intsAttr(n, 'pads') ?? []).some((p) => p !== 0)) throw new Reject(`${label} pads its input`);
    [C, D] = Wc.dims;
    W = Float64Array.from(Wc.data);
    shape = [ch.shape[0], 'C', 1, 1];
    info = { op: 'Conv', node: name, weight: weightName, weightShape: Wc.dims, bias: biasName, biasNode: null };
  }
  const b = new Float64Array(C);
  if (biasName) {
    const bc = constantOrReject(g, n, biasName, 'bias');
    const count = bc.data.length;
    if (count !== 1 && !(count === C && bc.dims.filter((d) => d !== 1).length <= 1)) throw new Reject(`${label}: bias '${biasName}' has shape [${bc.dims.join(', ')}]; expected a scalar or ${C} values`);
    for (let c = 0; c < C; c++) b[c] = biasScale * bc.data[count === 1 ? 0 : c];
  }
  return { info, W, b, C, D, chain: { ...ch, tensor: n.output![0], shape, path: [...ch.path, n] } };
}

/** A MatMul's bias: the single consumer Add of a scalar or per-class constant. */
function absorbMatMulBias(g: GraphIndex, lin: LinearFound): LinearFound {
  const out = lin.chain.tensor;
  const cons = g.consumersOf(out);
  if (lin.info.op !== 'MatMul' || g.isGraphOutput(out) || cons.length !== 1 || cons[0].opType !== 'Add') return lin;
  const add = cons[0];
  const other = add.input?.[0] === out ? add.input?.[1] : add.input?.[0];
  const c = other ? g.constant(other) : null;
  if (!c || add.input?.[0] === add.input?.[1]) return lin;
  let bc;
  try {
    bc = constantBroadcast(lin.chain.shape, c.dims, 'C');
  } catch {
    return lin;
  }
  if (bc.kind !== 'scalar' && bc.length !== lin.C) return lin;
  const b = new Float64Array(lin.C);
  for (let i = 0; i < lin.C; i++) b[i] = c.data[bc.kind === 'scalar' ? 0 : i];
  return { ...lin, b, info: { ...lin.info, bias: other!, biasNode: add.name || add.output![0] }, chain: { ...lin.chain, tensor: add.output![0], shape: bc.shape, path: [...lin.chain.path, add] } };
}

/**
 * Linear -> Linear: while the output of `lin` reaches another Gemm or MatMul with a constant weight
 * through single-consumer shape and affine ops only, compose them into one linear map:
 * W = W2 diag(s) W1, b = W2 (s * b1 + t) + b2, with (s, t) the affine ops between.
 */
function composeFollowingLinears(g: GraphIndex, first: LinearFound): LinearFound {
  let lin = first;
  for (let layers = 0; layers < 8; layers++) {
    let ch: Chain = { ...lin.chain, steps: [], folded: [] };
    let next: NodeProto | null = null;
    for (let depth = 0; depth < 16 && !next; depth++) {
      if (g.isGraphOutput(ch.tensor)) return lin;
      const cons = g.consumersOf(ch.tensor);
      if (cons.length !== 1) return lin;
      if (cons[0].opType === 'Gemm' || cons[0].opType === 'MatMul') next = cons[0];
      else {
        const r = foldableStep(g, cons[0], ch, 'C');
        if (!r || 'reject' in r) return lin;
        ch = r.ok;
      }
    }
    if (!next) return lin;
    const before = lin.chain.requires.length;
    if (ch.requires.slice(before).some((r) => r.sym === 'C' && r.size !== lin.C)) return lin;
    const asFeatures: Chain = { ...ch, shape: ch.shape.map((x) => (x === 'C' ? 'D' : x)), requires: lin.chain.requires };
    let second: LinearFound;
    try {
      second = absorbMatMulBias(g, linearStep(g, next, asFeatures));
    } catch (e) {
      if (e instanceof Reject) return lin;
      throw e;
    }
    if (second.D !== lin.C) return lin;
    const { scale, shift } = composeAffine(ch.steps, lin.C, 'outputs of the first linear layer');
    const [C2, Hd, D] = [second.C, lin.C, lin.D];
    const W = new Float64Array(C2 * D);
    const b = Float64Array.from(second.b);
    for (let c = 0; c < C2; c++) {
      for (let h = 0; h < Hd; h++) {
        const w2 = second.W[c * Hd + h] * scale[h];
        b[c] += second.W[c * Hd + h] * (scale[h] * lin.b[h] + shift[h]);
        for (let d = 0; d < D; d++) W[c * D + d] += w2 * lin.W[h * D + d];
      }
    }
    lin = {
      info: { ...lin.info, then: [...(lin.info.then ?? []), { op: second.info.op, node: second.info.node, weight: second.info.weight }] },
      W, b, C: C2, D,
      chain: { ...second.chain, steps: lin.chain.steps, folded: [...lin.chain.folded, ...ch.folded], requires: lin.chain.requires },
    };
  }
  return lin;
}

/** Graph outputs reachable from the logits through output-only ops, and the first ops that block. */
function outputsReached(g: GraphIndex, tensor: string): { outputs: string[]; blockers: string[] } {
  const outputs = new Set<string>();
  const blockers: string[] = [];
  const seen = new Set<string>();
  const queue = [tensor];
  while (queue.length && seen.size < 64) {
    const t = queue.shift()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (g.isGraphOutput(t)) outputs.add(t);
    for (const c of g.consumersOf(t)) {
      if (!TRAILING_OPS.has(c.opType ?? '')) {
        blockers.push(nodeLabel(c));
        continue;
      }
      for (const o of c.output ?? []) if (o) queue.push(o);
    }
  }
  return { outputs: [...outputs], blockers };
}

/**
 * The op that makes the map non-negative (Relu, Clip with min >= 0, ...), or null, looking up through
 * ops that keep the sign (shape ops, pooling, a zero or reflecting Pad) and ops that are non-negative
 * when all their inputs are (Concat of ReLU branches as in Inception, residual sums of ReLUs).
 */
export function nonNegativeSource(g: GraphIndex, tensor: string, depth = 0): string | null {
  if (depth > 48) return null;
  const c = g.constant(tensor);
  if (c) return Array.from(c.data).every((v) => v >= 0) ? `constant '${tensor}'` : null;
  const p = g.producer.get(tensor);
  if (!p) return null;
  const op = p.opType ?? '';
  const up = (t: string | undefined) => (t ? nonNegativeSource(g, t, depth + 1) : null);
  if (NON_NEGATIVE_OPS.has(op)) return nodeLabel(p);
  if (op === 'Clip') {
    const min = g.opset < 11 ? attr(p, 'min') : p.input?.[1] ? g.constant(p.input[1])?.data[0] : undefined;
    return typeof min === 'number' && min >= 0 ? nodeLabel(p) : null;
  }
  if (ALL_INPUTS_OPS.has(op)) {
    const sources = (p.input ?? []).filter((t) => t).map((t) => up(t));
    return sources.length > 0 && sources.every((x) => x !== null) ? (sources.find((x) => !x!.startsWith('constant')) ?? sources[0]) : null;
  }
  if (op === 'Pad') {
    const mode = attr(p, 'mode') ?? 'constant';
    if (mode === 'constant') {
      const value = g.opset < 11 ? numAttr(p, 'value', 0) : p.input?.[2] ? g.constant(p.input[2])?.data[0] : 0;
      if (typeof value !== 'number' || !(value >= 0)) return null;
    }
    return up(p.input?.[0]);
  }
  if (SIGN_KEEPING_OPS.has(op) || POOLING_OPS.has(op)) return up(p.input?.[0]);
  return null;
}

interface Candidate {
  pooling: PoolingInfo;
  poolNode: NodeProto;
  linear: LinearFound;
  pre: Chain;
  post: Chain;
  reached: string[];
}

function describeCandidate(c: Candidate): string {
  const outs = c.reached.length ? c.reached.map((o) => `'${o}'`).join(', ') : 'no graph output';
  return `${c.pooling.op} '${c.pooling.node}' -> ${c.linear.info.op} '${c.linear.info.node}' -> logits '${c.post.tensor}' (reaches ${outs})`;
}

/** First linear layer downstream of a node, looking a few nodes ahead (for "X between pooling and Y"). */
function linearAhead(g: GraphIndex, n: NodeProto): NodeProto | null {
  const queue = [...(n.output ?? [])];
  const seen = new Set<string>();
  while (queue.length && seen.size < 16) {
    const t = queue.shift()!;
    if (seen.has(t)) continue;
    seen.add(t);
    for (const c of g.consumersOf(t)) {
      if (c.opType === 'Gemm' || c.opType === 'MatMul') return c;
      queue.push(...(c.output ?? []));
    }
  }
  return null;
}

/**
 * Follow the logits past the linear layer. Without a target: through single-consumer foldable ops,
 * stopping at the first graph output. With a target: search for that tensor.
 */
function followLogits(g: GraphIndex, ch: Chain, target: string | undefined, depth = 0): { chain: Chain } | { reject: string } | null {
  if (target !== undefined && ch.tensor === target) return { chain: ch };
  if (target === undefined && g.isGraphOutput(ch.tensor)) return { chain: ch };
  if (depth > 24) return target === undefined ? { chain: ch } : null;
  const cons = g.consumersOf(ch.tensor);
  if (target === undefined) {
    if (cons.length !== 1) return { chain: ch };
    const r = foldableStep(g, cons[0], ch, 'C');
    if (!r) return { chain: ch };
    if ('reject' in r) return { chain: ch };
    return followLogits(g, r.ok, target, depth + 1);
  }
  for (const c of cons) {
    const r = foldableStep(g, c, ch, 'C');
    if (r && 'ok' in r) {
      const found = followLogits(g, r.ok, target, depth + 1);
      if (found) return found;
    } else if (r && 'reject' in r && c.output?.includes(target)) return { reject: r.reject };
  }
  return null;
}

function searchFromPooling(g: GraphIndex, pooling: PoolingInfo, poolNode: NodeProto, opts: DetectHeadOptions, found: Candidate[], rejected: string[]): void {
  const poolLabel = nodeLabel(poolNode);
  const shape = pooledShape(pooling, opts.batchIsOne ?? false);
  const start: Chain = { tensor: pooling.output, shape, known: new Map([[pooling.output, shape]]), steps: [], folded: [], path: [poolNode], requires: [] };
  const visit = (ch: Chain, depth: number) => {
    if (depth > 24) return;
    const consumers = g.consumersOf(ch.tensor).filter((n) => n.opType !== 'Shape'); // Shape reads only the shape (x.view(x.size(0), -1))
    if (consumers.length === 0) {
      const where = g.isGraphOutput(ch.tensor) ? `reaches graph output '${ch.tensor}'` : `ends at the unused tensor '${ch.tensor}'`;
      rejected.push(`${poolLabel} ${where} with no linear layer after the pooling${classifierBefore(g, pooling.input)}`);
      return;
    }
    for (const n of consumers) {
      const op = n.opType ?? '';
      if (op === 'LayerNormalization' || (op === 'ReduceMean' && n.input?.[0] === ch.tensor && reducesChannels(g, n, ch.shape))) {
        rejected.push(`${nodeLabel(n)} after ${poolLabel} normalises the pooled vector by its own mean and variance (a LayerNorm after the pooling, as in ConvNeXt): that is not linear in the features, so this is not a GAP + linear head`);
        continue;
      }
      if (op === 'Gemm' || op === 'MatMul' || op === 'Conv') {
        let lin: LinearFound;
        try {
          lin = composeFollowingLinears(g, absorbMatMulBias(g, linearStep(g, n, ch)));
        } catch (e) {
          if (e instanceof Reject) { rejected.push(`after ${poolLabel}: ${e.message}`); continue; }
          throw e;
        }
        const linLabel = nodeLabel(n);
        lin.chain.known.set(lin.chain.tensor, lin.chain.shape);
        const post = followLogits(g, { ...lin.chain, steps: [], folded: [] }, opts.logitsOutput);
        if (!post) { rejected.push(`${poolLabel} -> ${linLabel} does not lead to '${opts.logitsOutput}' through linear ops`); continue; }
        if ('reject' in post) { rejected.push(`${poolLabel} -> ${linLabel}: ${post.reject}`); continue; }
        const reach = outputsReached(g, post.chain.tensor);
        if (reach.outputs.length === 0 && opts.logitsOutput === undefined) {
          rejected.push(`${poolLabel} -> ${linLabel}: its output '${post.chain.tensor}' reaches no graph output except through ${reach.blockers.length ? reach.blockers.join(', ') : 'nothing (it is unused)'}, which is not linear`);
          continue;
        }
        found.push({ pooling, poolNode, linear: lin, pre: lin.chain, post: post.chain, reached: reach.outputs });
        continue;
      }
      const r = foldableStep(g, n, ch, 'D');
      if (r && 'ok' in r) { visit(r.ok, depth + 1); continue; }
      const why = r ? r.reject : `${nodeLabel(n)} is not a linear op`;
      const ahead = linearAhead(g, n);
      rejected.push(ahead ? `non-linear op between ${poolLabel} and ${nodeLabel(ahead)}: ${why}` : `after ${poolLabel}: ${why}`);
    }
  };
  visit(start, 0);
}

/** Whether a ReduceMean reduces the channel axis of the tracked (pooled) tensor. */
function reducesChannels(g: GraphIndex, n: NodeProto, shape: SymShape): boolean {
  const r = reduceAxes(g, n);
  if (!r) return false;
  return r.axes.some((a) => shape[a < 0 ? a + shape.length : a] === 'D');
}

/** When the pooled map comes from a classifier (1 x 1 Conv) through a non-linear op, say so (SqueezeNet). */
function classifierBefore(g: GraphIndex, tensor: string): string {
  const act = g.producer.get(tensor);
  const conv = act?.input?.[0] ? g.producer.get(act.input[0]) : undefined;
  const k = conv?.opType === 'Conv' ? intsAttr(conv, 'kernel_shape') : undefined;
  if (act && conv && k?.every((v) => v === 1) && act.opType !== 'Identity') {
    return `: the classifier (${nodeLabel(conv)}) is before the pooling, and ${nodeLabel(act)} between it and the mean is not linear, so this is not a GAP + linear head`;
  }
  return '; a GAP + linear head needs a linear layer (Gemm, MatMul or 1 x 1 Conv) after the pooling';
}

function finish(g: GraphIndex, c: Candidate): DetectedHead {
  const { linear: lin, pre, post } = c;
  const requires = [...pre.requires, ...post.requires];
  let batchFixedByHead: number | null = null;
  for (const r of requires) {
    const want = r.sym === 'D' ? lin.D : r.sym === 'C' ? lin.C : null;
    if (want === null) batchFixedByHead = r.size;
    else if (r.size !== want) throw new InputError(`${r.node} reshapes the pooled vector to ${r.size} ${r.sym === 'D' ? 'channels' : 'classes'}, but the linear layer ${lin.info.node} has ${want}`);
  }
  const { W, b } = foldHead(pre.steps, { W: lin.W, b: lin.b, C: lin.C, D: lin.D }, post.steps);
  const nonNegativeBy = nonNegativeSource(g, c.pooling.input);
  const path = post.path;
  return {
    pooling: c.pooling,
    linear: lin.info,
    foldedOps: [...pre.folded, ...post.folded],
    path: path.map(nodeRef),
    W, b,
    numClasses: lin.C,
    featureDim: lin.D,
    featureTensor: c.pooling.input,
    featureLayout: c.pooling.layout,
    nonNegative: nonNegativeBy !== null,
    nonNegativeBy,
    logitsTensor: post.tensor,
    logitsIsGraphOutput: g.isGraphOutput(post.tensor),
    reachesOutputs: c.reached,
    batchFixedByHead,
  };
}

/**
 * Find the model's GAP + linear head. Throws InputError when there is none (listing the last nodes
 * of the graph and why each pooling did not lead to a head), when several are found (listing them),
 * or when `logitsOutput` names no graph tensor or no head's logits.
 */
export function detectHead(g: GraphIndex, opts: DetectHeadOptions = {}): DetectedHead {
  const tail = `Last ${Math.min(TAIL_NODES, g.nodes.length)} nodes of the graph:\n${formatNodes(g.tail(TAIL_NODES))}`;
  if (opts.logitsOutput !== undefined && !g.isGraphOutput(opts.logitsOutput) && !g.producer.has(opts.logitsOutput)) {
    throw new InputError(`logits output '${opts.logitsOutput}' is not a tensor of the model; its graph outputs are: ${g.outputs.map((o) => `'${o}'`).join(', ')}`);
  }
  const found: Candidate[] = [];
  const reasons: { text: string; at: number }[] = [];
  let poolings = 0;
  g.nodes.forEach((n, at) => {
    const p = poolingOf(g, n);
    if (!p) return;
    poolings++;
    const local: string[] = [];
    searchFromPooling(g, p, n, opts, found, local);
    for (const text of local) reasons.push({ text, at });
  });
  // The route nearest the output first: the head's own reason, not those of poolings inside the
  // backbone (squeeze-excitation blocks).
  const rejected = reasons.sort((a, b) => b.at - a.at).map((r) => r.text);
  const unique = found.filter((c, i) => found.findIndex((d) => d.poolNode === c.poolNode && d.linear.info.node === c.linear.info.node && d.post.tensor === c.post.tensor) === i);
  if (unique.length === 1) return finish(g, unique[0]);
  if (unique.length > 1) {
    throw new InputError(
      `several candidate GAP + linear heads were found:\n${unique.map((c, i) => `  ${i + 1}. ${describeCandidate(c)}`).join('\n')}\n` +
        `Choose one by naming its logits output (logitsOutput / --logits-output), e.g. '${unique[0].post.tensor}'.`,
    );
  }
  if (opts.logitsOutput !== undefined) {
    throw new InputError(`logits output '${opts.logitsOutput}' is not produced by a GAP + linear head${rejected.length ? `:\n${rejected.slice(0, 8).map((r) => `  - ${r}`).join('\n')}` : ''}\n${tail}`);
  }
  if (poolings === 0) {
    throw new InputError(`no GAP + linear head: the graph has no GlobalAveragePool, no padding-free AveragePool and no ReduceMean over the spatial axes (NCHW or NHWC) or the token axis (N x T x D).\n${tail}`);
  }
  throw new InputError(`no GAP + linear head among ${poolings} pooling op(s) (the route nearest the output first):\n${rejected.slice(0, 8).map((r) => `  - ${r}`).join('\n')}${rejected.length > 8 ? `\n  (${rejected.length - 8} more)` : ''}\n${tail}`);
}
