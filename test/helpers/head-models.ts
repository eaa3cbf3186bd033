/**
 * Builders of small classifiers with a chosen head, for tests: a one-conv backbone giving an NCHW
 * map, an NHWC map or N x T x D tokens, then the pooling, the ops between pooling and the linear
 * layer, the linear layer and the ops after it, all as listed in a spec. Constants are drawn from a
 * seeded stream and returned, so tests can compute the folded head by hand. Also: moving
 * initializers to an external data file.
 */
import { buildModel, float, int64Tensor, node, tensor, valueInfo, type Dim } from '../../src/onnx/builder.ts';
import { decodeModel, encodeModel, onnx, type NodeProto, type TensorProto } from '../../src/onnx/proto.ts';
import { Rng } from '../../src/util/random.ts';

/** An op between pooling and the linear layer, or after the linear layer. */
export type HeadOpSpec =
  | { op: 'Flatten'; axis?: number }
  | { op: 'Reshape'; shape: number[] }
  | { op: 'Squeeze'; axes?: number[] }
  | { op: 'Unsqueeze'; axes: number[] }
  | { op: 'Transpose'; perm: number[] }
  | { op: 'Dropout' }
  | { op: 'Identity' }
  | { op: 'BatchNormalization' }
  /** per: scalar or per channel (class after the linear layer); constFirst puts the constant on the left. fullRank writes the constant with the tensor's rank. */
  | { op: 'Mul' | 'Add' | 'Sub' | 'Div'; per: 'scalar' | 'axis'; constFirst?: boolean; fullRank?: boolean }
  | { op: 'Relu' }
  | { op: 'Sigmoid' };

export type LinearSpec =
  | { op: 'Gemm'; transB?: 0 | 1; alpha?: number; beta?: number; bias?: 'vector' | 'row' | 'scalar' | 'none' }
  | { op: 'MatMul'; bias?: boolean }
  | { op: 'Conv' };

export interface HeadModelSpec {
  seed?: number;
  /** Layout of the feature map the backbone gives (default NCHW). */
  layout?: 'NCHW' | 'NHWC' | 'NTD';
  /** Input H x W (default [6, 5]: not square, so H and W cannot be swapped unnoticed). */
  inputSize?: [number, number];
  /** Input channels (default 3). */
  inChannels?: number;
  /** Feature channels D (default 6). */
  featureDim?: number;
  /** Classes C (default 4). */
  numClasses?: number;
  /** Activation before pooling: Relu (default), Clip with a min (attribute before opset 11, input after), or none. */
  activation?: 'Relu' | { clipMin: number } | 'none';
  pooling?: 'GlobalAveragePool' | 'ReduceMean' | 'AveragePool';
  /** ReduceMean: axes as attribute (opset < 18) or input (opset 18). Default: attribute. */
  axesAs?: 'attribute' | 'input';
  /** ReduceMean: write negative axes. */
  negativeAxes?: boolean;
  /** ReduceMean keepdims (default 1). */
  keepdims?: 0 | 1;
  between?: HeadOpSpec[];
  linear?: LinearSpec;
  after?: HeadOpSpec[];
  /** Extra graph outputs: Softmax of the logits, and whether the logits themselves are an output (default true). */
  softmaxOutput?: boolean;
  logitsIsOutput?: boolean;
  /** Fixed batch size, or 'dynamic' (default). */
  batch?: number | 'dynamic';
  /** Symbolic H and W in the declared input shape (default false). */
  dynamicSpatial?: boolean;
  /** Opset (default 17, or 18 when axesAs is 'input'). */
  opset?: number;
}

export interface HeadModel {
  model: Uint8Array;
  inputName: string;
  /** The tensor pooling reads. */
  featureTensor: string;
  /** The last tensor of the head (the logits). */
  logitsName: string;
  inputShape: Dim[];
  /** Every constant the builder drew, by initializer name. */
  constants: Map<string, { dims: number[]; data: Float32Array }>;
  /** Names of the linear layer's weight and bias initializers (bias null when absent). */
  linearWeight: string;
  linearBias: string | null;
  /** Names of the nodes, in the order the spec listed them (between, then after). */
  opNames: { between: string[]; after: string[]; linear: string; pooling: string };
}

/**
 * Build a classifier with a head as specified. The tracked shape follows every op so constants
 * get a broadcastable shape; combinations that onnxruntime rejects (e.g. Gemm on a 4-D tensor) are
 * the caller's to avoid, or to test for.
 */
export function buildHeadModel(spec: HeadModelSpec = {}): HeadModel {
  const rng = new Rng(spec.seed ?? 1);
  const layout = spec.layout ?? 'NCHW';
  const [H, W] = spec.inputSize ?? [6, 5];
  const cin = spec.inChannels ?? 3;
  const D = spec.featureDim ?? 6;
  const C = spec.numClasses ?? 4;
  const opset = spec.opset ?? (spec.axesAs === 'input' ? 18 : 17);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const constants = new Map<string, { dims: number[]; data: Float32Array }>();
  let k = 0;
  const uid = (p: string) => `${p}_${k++}`;
  const constant = (prefix: string, dims: number[], draw: () => number) => {
    const name = uid(prefix);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map(() => draw());
    inits.push(tensor(name, dims, data));
    constants.set(name, { dims, data });
    return name;
  };
  const ints = (prefix: string, values: number[]) => {
    const name = uid(prefix);
    inits.push(int64Tensor(name, values));
    return name;
  };
  const add = (op: string, inputs: string[], attrs: Parameters<typeof node>[3] = {}, name?: string) => {
    const n = name ?? uid(op.toLowerCase());
    const out = `${n}_out`;
    nodes.push(node(op, inputs, [out], attrs, n));
    return out;
  };

  // Backbone: one 3x3 conv (same padding), optional ReLU, then the requested layout.
  const batch: Dim = spec.batch === undefined || spec.batch === 'dynamic' ? 'N' : spec.batch;
  const hDim: Dim = spec.dynamicSpatial ? 'H' : H;
  const wDim: Dim = spec.dynamicSpatial ? 'W' : W;
  const inputShape: Dim[] = layout === 'NHWC' ? [batch, hDim, wDim, cin] : [batch, cin, hDim, wDim];
  let x = 'input';
  if (layout === 'NHWC') x = add('Transpose', [x], { perm: [0, 3, 1, 2] });
  const cw = constant('conv_w', [D, cin, 3, 3], () => 0.4 * rng.normal());
  const cb = constant('conv_b', [D], () => 0.2 * rng.normal());
  x = add('Conv', [x, cw, cb], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'backbone_conv');
  const act = spec.activation ?? 'Relu';
  if (act === 'Relu') x = add('Relu', [x], {}, 'backbone_relu');
  else if (act !== 'none') {
    if (opset < 11) x = add('Clip', [x], { min: float(act.clipMin), max: float(6) }, 'backbone_clip');
    else x = add('Clip', [x, constant('clip_min', [], () => act.clipMin), constant('clip_max', [], () => 6)], {}, 'backbone_clip');
  }
  if (layout === 'NHWC') x = add('Transpose', [x], { perm: [0, 2, 3, 1] }, 'to_nhwc');
  if (layout === 'NTD') {
    x = add('Reshape', [x, ints('tokens_shape', [0, D, -1])], {}, 'to_tokens');
    x = add('Transpose', [x], { perm: [0, 2, 1] }, 'tokens_last');
  }
  const featureTensor = x;

  // Pooling. The tracked shape uses 'N' for the batch and numbers elsewhere; `axis` is the channel axis.
  let shape: (number | 'N')[];
  let axis: number;
  const pooling = spec.pooling ?? (layout === 'NCHW' ? 'GlobalAveragePool' : 'ReduceMean');
  const poolName = 'pool';
  if (pooling === 'GlobalAveragePool') {
    x = add('GlobalAveragePool', [x], {}, poolName);
    [shape, axis] = [['N', D, 1, 1], 1];
  } else if (pooling === 'AveragePool') {
    x = add('AveragePool', [x], { kernel_shape: [H, W] }, poolName);
    [shape, axis] = [['N', D, 1, 1], 1];
  } else {
    const rank = layout === 'NTD' ? 3 : 4;
    let axes = layout === 'NCHW' ? [2, 3] : layout === 'NHWC' ? [1, 2] : [1];
    if (spec.negativeAxes) axes = axes.map((a) => a - rank);
    const keep = spec.keepdims ?? 1;
    if (spec.axesAs === 'input') x = add('ReduceMean', [x, ints('axes', axes)], { keepdims: keep }, poolName);
    else x = add('ReduceMean', [x], { axes, keepdims: keep }, poolName);
    const chan = layout === 'NCHW' ? 1 : rank - 1;
    if (keep) {
      shape = Array.from({ length: rank }, (_, i) => (i === 0 ? 'N' : i === chan ? D : 1));
      axis = chan;
    } else [shape, axis] = [['N', D], 1];
  }

  const applyOps = (ops: HeadOpSpec[], L: number, names: string[]) => {
    for (const o of ops) {
      const name = uid(o.op.toLowerCase());
      names.push(name);
      switch (o.op) {
        case 'Flatten':
          x = add('Flatten', [x], { axis: o.axis ?? 1 }, name);
          [shape, axis] = [['N', L], 1];
          break;
        case 'Reshape': {
          x = add('Reshape', [x, ints('shape', o.shape)], {}, name);
          const i = o.shape.findIndex((v, j) => j > 0 && v !== 1);
          shape = o.shape.map((_, j) => (j === 0 ? 'N' : j === i ? L : 1));
          axis = i;
          break;
        }
        case 'Squeeze': {
          const axes = o.axes ?? shape.map((_, i) => i).filter((i) => i !== 0 && i !== axis);
          x = opset >= 13 ? add('Squeeze', [x, ints('axes', axes)], {}, name) : add('Squeeze', [x], { axes }, name);
          const drop = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
          axis -= [...drop].filter((a) => a < axis).length;
          shape = shape.filter((_, i) => !drop.has(i));
          break;
        }
        case 'Unsqueeze': {
          x = opset >= 13 ? add('Unsqueeze', [x, ints('axes', o.axes)], {}, name) : add('Unsqueeze', [x], { axes: o.axes }, name);
          const rank = shape.length + o.axes.length;
          const ins = new Set(o.axes.map((a) => (a < 0 ? a + rank : a)));
          const out: (number | 'N')[] = [];
          let j = 0;
          let newAxis = axis;
          for (let i = 0; i < rank; i++) {
            if (ins.has(i)) out.push(1);
            else {
              if (j === axis) newAxis = i;
              out.push(shape[j++]);
            }
          }
          [shape, axis] = [out, newAxis];
          break;
        }
        case 'Transpose':
          x = add('Transpose', [x], { perm: o.perm }, name);
          shape = o.perm.map((p) => shape[p]);
          axis = o.perm.indexOf(axis);
          break;
        case 'Dropout':
        case 'Identity':
        case 'Relu':
        case 'Sigmoid':
          x = add(o.op, [x], {}, name);
          break;
        case 'BatchNormalization': {
          const s = constant('bn_scale', [L], () => rng.uniform(0.5, 1.5));
          const b = constant('bn_bias', [L], () => 0.3 * rng.normal());
          const m = constant('bn_mean', [L], () => 0.3 * rng.normal());
          const v = constant('bn_var', [L], () => rng.uniform(0.5, 2));
          x = add('BatchNormalization', [x, s, b, m, v], { epsilon: 1e-3 }, name);
          break;
        }
        default: {
          // Per-axis constants: L on the tracked axis, 1 on the axes after it (and before it when fullRank).
          const from = o.fullRank ? 0 : axis;
          const dims = o.per === 'scalar' ? (o.fullRank ? shape.map(() => 1) : []) : shape.slice(from).map((_, i) => (i + from === axis ? L : 1));
          const draw = o.op === 'Mul' || o.op === 'Div' ? () => rng.uniform(0.5, 2) * (rng.next() < 0.3 ? -1 : 1) : () => rng.normal();
          const c = constant(`${o.op.toLowerCase()}_c`, dims, draw);
          x = add(o.op, o.constFirst ? [c, x] : [x, c], {}, name);
        }
      }
    }
  };

  const names = { between: [] as string[], after: [] as string[], linear: 'fc', pooling: poolName };
  applyOps(spec.between ?? (shape.length > 2 ? [{ op: 'Flatten' }] : []), D, names.between);

  const lin = spec.linear ?? { op: 'Gemm', transB: 1 };
  let linearWeight: string;
  let linearBias: string | null = null;
  if (lin.op === 'Gemm') {
    const transB = lin.transB ?? 0;
    linearWeight = constant('fc_w', transB ? [C, D] : [D, C], () => rng.normal() / Math.sqrt(D));
    const biasKind = lin.bias ?? 'vector';
    if (biasKind !== 'none') linearBias = constant('fc_b', biasKind === 'vector' ? [C] : biasKind === 'row' ? [1, C] : [1], () => 0.5 * rng.normal());
    const attrs: Parameters<typeof node>[3] = { transB };
    if (lin.alpha !== undefined) attrs.alpha = float(lin.alpha);
    if (lin.beta !== undefined) attrs.beta = float(lin.beta);
    x = add('Gemm', linearBias ? [x, linearWeight, linearBias] : [x, linearWeight], attrs, 'fc');
    [shape, axis] = [['N', C], 1];
  } else if (lin.op === 'MatMul') {
    linearWeight = constant('fc_w', [D, C], () => rng.normal() / Math.sqrt(D));
    x = add('MatMul', [x, linearWeight], {}, 'fc');
    shape = [...shape.slice(0, -1), C];
    axis = shape.length - 1;
    if (lin.bias ?? true) {
      linearBias = constant('fc_b', [C], () => 0.5 * rng.normal());
      x = add('Add', [x, linearBias], {}, 'fc_bias');
    }
  } else {
    linearWeight = constant('fc_w', [C, D, 1, 1], () => rng.normal() / Math.sqrt(D));
    linearBias = constant('fc_b', [C], () => 0.5 * rng.normal());
    x = add('Conv', [x, linearWeight, linearBias], { kernel_shape: [1, 1] }, 'fc');
    [shape, axis] = [['N', C, 1, 1], 1];
  }
  applyOps(spec.after ?? [], C, names.after);
  const logitsName = x;

  const outputs = [];
  if (spec.logitsIsOutput ?? true) outputs.push(valueInfo(logitsName, null));
  if (spec.softmaxOutput) {
    nodes.push(node('Softmax', [logitsName], ['probs'], { axis: -1 }, 'softmax'));
    outputs.push(valueInfo('probs', null));
  }
  const model = buildModel({ name: 'head_model', nodes, inputs: [valueInfo('input', inputShape)], outputs, initializers: inits, opset });
  return { model, inputName: 'input', featureTensor, logitsName, inputShape, constants, linearWeight, linearBias, opNames: names };
}

/**
 * Move initializers (all, or those named) into one external data file. Returns the rewritten model
 * and the data file's bytes; write the data as `location` next to the model.
 */
export function externalizeInitializers(modelBytes: Uint8Array, location: string, names?: readonly string[]): { model: Uint8Array; data: Uint8Array } {
  const m = decodeModel(modelBytes);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const t of m.graph?.initializer ?? []) {
    if (names && !names.includes(t.name ?? '')) continue;
    const raw = t.rawData;
    if (!raw || raw.length === 0) continue;
    const copy = new Uint8Array(raw);
    parts.push(copy);
    t.rawData = new Uint8Array(0);
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(copy.length) },
    ];
    offset += copy.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { model: encodeModel(m), data };
}
