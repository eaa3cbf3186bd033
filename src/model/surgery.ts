/**
 * Graph surgery: extend a classifier so one onnxruntime run returns both the feature map, already
 * in the project's position-major layout (n x H x W x D, i.e. n x HW x D; tokens n x T x D), and the
 * logits. NCHW maps get a Transpose [0, 2, 3, 1]; NHWC maps and tokens get an Identity. The model's
 * own logits tensor is added as a graph output when it is not one already.
 */
import { node, valueInfo } from '../onnx/builder.ts';
import { encodeModel, type ModelProto, type NodeProto, type ValueInfoProto } from '../onnx/proto.ts';
import type { FeatureMapLayout } from './head.ts';

export interface SurgeryPlan {
  /** The pooled tensor (the feature map) in the original graph. */
  featureTensor: string;
  featureLayout: FeatureMapLayout;
  /** The logits tensor in the original graph. */
  logitsTensor: string;
}

export interface SurgeryResult {
  /** Serialised ModelProto with the extra outputs. */
  bytes: Uint8Array;
  /** Session output holding the features, n x H x W x D (or n x T x D). */
  featuresOutput: string;
  /** Session output holding the logits. */
  logitsOutput: string;
  /** Nodes added to the graph. */
  added: string[];
}

/** The prefix of every tensor and node the surgery adds. */
export const SURGERY_PREFIX = 'protolens_';

/** `base`, or `base_1`, `base_2`, ... : the first name not in `taken` (which it is then added to). */
export function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** Every tensor and node name in the graph, so added names never collide. */
export function namesIn(model: ModelProto): Set<string> {
  const g = model.graph!;
  const names = new Set<string>();
  for (const n of g.node ?? []) {
    if (n.name) names.add(n.name);
    for (const t of [...(n.input ?? []), ...(n.output ?? [])]) names.add(t);
  }
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) if (v.name) names.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) names.add(t.name);
  return names;
}

/** A copy of the model (sharing tensors) with the feature output and, if needed, the logits output added. */
export function addFeatureOutputs(model: ModelProto, plan: SurgeryPlan): SurgeryResult {
  const g = model.graph!;
  const taken = namesIn(model);
  const featuresOutput = uniqueName(`${SURGERY_PREFIX}features`, taken);
  const nodeName = uniqueName(`${SURGERY_PREFIX}features_node`, taken);
  const extra: NodeProto =
    plan.featureLayout === 'NCHW'
      ? node('Transpose', [plan.featureTensor], [featuresOutput], { perm: [0, 2, 3, 1] }, nodeName)
      : node('Identity', [plan.featureTensor], [featuresOutput], {}, nodeName);
  const outputs: ValueInfoProto[] = [...(g.output ?? [])];
  if (!outputs.some((o) => o.name === plan.logitsTensor)) outputs.push(valueInfo(plan.logitsTensor, null));
  outputs.push(valueInfo(featuresOutput, null));
  const graph = { ...g, node: [...(g.node ?? []), extra], output: outputs };
  const bytes = encodeModel({ ...model, graph } as ModelProto);
  return { bytes, featuresOutput, logitsOutput: plan.logitsTensor, added: [nodeName] };
}
