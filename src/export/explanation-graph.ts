/**
 * The explanation subgraph appended to a classifier: from the feature map the model already
 * computes, per-prototype contributions (and heatmaps) as extra graph outputs. The original nodes,
 * initializers and outputs are kept as they are; only new nodes, initializers and outputs are added
 * (all new names start with `protolens_` except the public output names, which get a numeric suffix
 * only if the model already uses them).
 *
 *   features (NCHW: Transpose [0,2,3,1]; NHWC: as is; N x T x D: Reshape to the token grid)
 *     → F  [N, H, W, D]
 *   S = MatMul(F, P^T)               [N, H, W, C·k]      P^T: D x C·k initializer
 *   contributions = Reshape(ReduceMean(S, axes [1, 2]), [0, C, k])
 *   heatmaps (all) = Transpose(Reshape(S, [0, 0, 0, C, k]), [0, 3, 4, 1, 2])   [N, C, k, H, W]
 *   heatmaps (top) = Transpose(MatMul(F, Reshape(Gather(P_c^T, ArgMax(logits)), [0, 1, D, k])), [0, 3, 1, 2])
 *                    with P_c^T = Transpose(Reshape(P^T, [D, C, k]), [1, 0, 2])   [C, D, k]
 *                                                          [N, k, H, W]
 *   residual_contribution = ReduceMean(MatMul(F, R^T), axes [1, 2])   [N, C]  (allocator `none` only)
 *
 * Reshapes copy the batch and spatial sizes (`0` entries), so models with a dynamic batch or input
 * size keep them.
 */
import { int64Tensor, node, tensor, valueInfo, type Dim } from '../onnx/builder.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.ts';
import type { FeatureMapLayout } from '../model/head.ts';
import { namesIn, uniqueName } from '../model/surgery.ts';

/** Which heatmaps the exported model outputs. */
export type HeatmapMode = 'all' | 'top' | 'none';
export const HEATMAP_MODES: readonly HeatmapMode[] = ['all', 'top', 'none'];

/** Everything the subgraph needs to know about the model and the network. */
export interface ExplanationGraphPlan {
  /** The pooled tensor (the feature map) in the original graph. */
  featureTensor: string;
  featureLayout: FeatureMapLayout;
  /** Token features only: the H x W grid of the T tokens. */
  grid?: { H: number; W: number };
  /** The logits tensor in the original graph. */
  logitsTensor: string;
  C: number;
  k: number;
  D: number;
  /** C x k x D refined prototypes. */
  prototypes: Float32Array;
  /** C x D residual term, or null when it is zero for every class. */
  residual: Float32Array | null;
  /** C. */
  bias: Float32Array;
  heatmaps: HeatmapMode;
  /** Default-domain opset of the model (ReduceMean takes its axes as an input from 18 on). */
  opset: number;
}

/** Names of the outputs the exported model gains. */
export interface ExplanationOutputNames {
  logits: string;
  contributions: string;
  bias: string;
  heatmaps: string | null;
  explainedClass: string | null;
  residualContribution: string | null;
  residualHeatmaps: string | null;
}

/** One output of the exported model, as documented in docs/export.md. */
export interface ExportedOutput {
  name: string;
  /** Dims; strings are symbolic (N batch, H x W feature map). */
  shape: Dim[];
  dtype: 'float32' | 'int64';
  description: string;
}

export interface ExplanationGraph {
  /** The model with the subgraph added (a plain object for encodeModel). */
  model: ModelProto;
  names: ExplanationOutputNames;
  outputs: ExportedOutput[];
  /** Nodes added. */
  added: string[];
}

/** Prefix of the internal tensors, nodes and initializers the subgraph adds. */
export const EXPORT_PREFIX = 'protolens_';

/** Transpose a row-major rows x cols matrix (cols x rows out). */
function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Append the explanation subgraph to a copy of `model` (tensors shared, the input untouched).
 * The logits output is the model's own logits tensor: reused when it is already a graph output named
 * `logits`, else exposed as `logits` through Flatten(axis 1), which keeps every value.
 */
export function addExplanationOutputs(model: ModelProto, plan: ExplanationGraphPlan): ExplanationGraph {
  const g = model.graph!;
  const taken = namesIn(model);
  const fresh = (base: string) => uniqueName(base, taken);
  const internal = (base: string) => fresh(`${EXPORT_PREFIX}${base}`);
  const { C, k, D } = plan;
  const Ck = C * k;
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const outputs: ExportedOutput[] = [];
  const add = (op: string, inputs: string[], out: string, attrs: Parameters<typeof node>[3] = {}) => {
    nodes.push(node(op, inputs, [out], attrs, internal(`${op.toLowerCase()}_node`)));
    return out;
  };
  const constant = (base: string, dims: number[], data: Float32Array) => {
    const name = internal(base);
    inits.push(tensor(name, dims, data));
    return name;
  };
  const shapeConst = (base: string, values: number[]) => {
    const name = internal(base);
    inits.push(int64Tensor(name, values));
    return name;
  };
  const spatialMean = (x: string, out: string) =>
    plan.opset >= 18
      ? add('ReduceMean', [x, shapeConst('spatial_axes', [1, 2])], out, { keepdims: 0 })
      : add('ReduceMean', [x], out, { axes: [1, 2], keepdims: 0 });

  // Feature map as N x H x W x D.
  let F: string;
  if (plan.featureLayout === 'NCHW') F = add('Transpose', [plan.featureTensor], internal('features_nhwd'), { perm: [0, 2, 3, 1] });
  else if (plan.featureLayout === 'NHWC') F = plan.featureTensor;
  else {
    if (!plan.grid) throw new Error('addExplanationOutputs: token features need the grid H x W');
    F = add('Reshape', [plan.featureTensor, shapeConst('grid_shape', [0, plan.grid.H, plan.grid.W, D])], internal('features_nhwd'));
  }
  const Hd: Dim = plan.grid ? plan.grid.H : 'H';
  const Wd: Dim = plan.grid ? plan.grid.W : 'W';

  // Logits output.
  const existing = (g.output ?? []).find((o) => o.name === plan.logitsTensor);
  let logits: string;
  if (existing && plan.logitsTensor === 'logits') logits = plan.logitsTensor;
  else logits = add('Flatten', [plan.logitsTensor], fresh('logits'), { axis: 1 });
  outputs.push({ name: logits, shape: ['N', C], dtype: 'float32', description: "the model's own logits" });

  // Contributions of every prototype of every class.
  const Pt = constant('prototypes_t', [D, Ck], transposed(plan.prototypes, Ck, D));
  const S = add('MatMul', [F, Pt], internal('prototype_maps'));
  const meanS = spatialMean(S, internal('contributions_flat'));
  const contributions = add('Reshape', [meanS, shapeConst('contributions_shape', [0, C, k])], fresh('contributions'));
  outputs.push({ name: contributions, shape: ['N', C, k], dtype: 'float32', description: 'mean over positions of x p~_{c,i}: contribution of prototype i to the logit of class c' });

  const bias = add('Identity', [constant('bias', [C], plan.bias)], fresh('bias'));
  outputs.push({ name: bias, shape: [C], dtype: 'float32', description: 'b_c: contributions.sum(-1) (+ residual_contribution) + bias = logits' });

  let heatmaps: string | null = null;
  let explainedClass: string | null = null;
  if (plan.heatmaps === 'all') {
    const S5 = add('Reshape', [S, shapeConst('heatmaps_shape', [0, 0, 0, C, k])], internal('prototype_maps_5d'));
    heatmaps = add('Transpose', [S5], fresh('heatmaps'), { perm: [0, 3, 4, 1, 2] });
    outputs.push({ name: heatmaps, shape: ['N', C, k, Hd, Wd], dtype: 'float32', description: 'x p~_{c,i} at every feature-map position' });
  } else if (plan.heatmaps === 'top') {
    explainedClass = add('ArgMax', [logits], fresh('explained_class'), { axis: 1, keepdims: 0 });
    outputs.push({ name: explainedClass, shape: ['N'], dtype: 'int64', description: 'argmax of the logits (first on ties): the class the heatmaps are for' });
    // C x D x k (each class's prototypes as columns) from the same initializer, so the prototypes are
    // stored once; onnxruntime folds these two constant ops at load.
    const Pdck = add('Reshape', [Pt, shapeConst('prototypes_dck_shape', [D, C, k])], internal('prototypes_dck'));
    const Pc = add('Transpose', [Pdck], internal('prototypes_by_class'), { perm: [1, 0, 2] });
    const G = add('Gather', [Pc, explainedClass], internal('explained_prototypes'), { axis: 0 });
    const G4 = add('Reshape', [G, shapeConst('explained_prototypes_shape', [0, 1, D, k])], internal('explained_prototypes_4d'));
    const Sh = add('MatMul', [F, G4], internal('explained_maps'));
    heatmaps = add('Transpose', [Sh], fresh('heatmaps'), { perm: [0, 3, 1, 2] });
    outputs.push({ name: heatmaps, shape: ['N', k, Hd, Wd], dtype: 'float32', description: 'x p~_{c,i} for c = explained_class' });
  }

  let residualContribution: string | null = null;
  let residualHeatmaps: string | null = null;
  if (plan.residual) {
    const Rt = constant('residual_t', [D, C], transposed(plan.residual, C, D));
    const SR = add('MatMul', [F, Rt], internal('residual_maps'));
    residualContribution = spatialMean(SR, fresh('residual_contribution'));
    outputs.push({ name: residualContribution, shape: ['N', C], dtype: 'float32', description: 'mean over positions of x r_c (the residual term of allocator none)' });
    if (plan.heatmaps === 'all') {
      residualHeatmaps = add('Transpose', [SR], fresh('residual_heatmaps'), { perm: [0, 3, 1, 2] });
      outputs.push({ name: residualHeatmaps, shape: ['N', C, Hd, Wd], dtype: 'float32', description: 'x r_c at every feature-map position' });
    }
  }

  const newOutputs: ValueInfoProto[] = outputs
    .filter((o) => !(g.output ?? []).some((e) => e.name === o.name))
    .map((o) => ({ ...valueInfo(o.name, o.shape, o.dtype === 'int64' ? DataType.INT64 : DataType.FLOAT), docString: o.description }));
  const graph = {
    ...g,
    node: [...(g.node ?? []), ...nodes],
    initializer: [...(g.initializer ?? []), ...inits],
    output: [...(g.output ?? []), ...newOutputs],
  };
  return {
    model: { ...model, graph } as ModelProto,
    names: { logits, contributions, bias, heatmaps, explainedClass, residualContribution, residualHeatmaps },
    outputs,
    added: nodes.map((n) => n.name ?? ''),
  };
}
