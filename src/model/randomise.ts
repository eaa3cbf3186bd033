/**
 * Cascading model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", 2018),
 * the building block of the explanation sanity check: a copy of the model whose last `count`
 * convolutions before the feature tensor have their weights redrawn, top down, so explanations built
 * on it can be compared with the real model's. The head (pooling + linear layer) is kept, so the
 * randomised model still has a head to decompose.
 *
 *   const r = randomiseTopConvolutions(bytes, dirname(path), 'layer4.2.relu_2', 2, 0);
 *   r.bytes  // the randomised model; r.layers: the convolutions redrawn, top first
 *
 * Each weight is drawn from N(0, s^2) with s the standard deviation of the original weights of that
 * layer (the layer's scale kept, its structure destroyed), from a seeded stream per layer; biases
 * are kept. Weights stored as external data are refused (write the model with the data inside).
 */
import { decodeModel, encodeModel, DataType, type ModelProto, type TensorProto } from '../onnx/proto.ts';
import { InputError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import { GraphIndex, nodeLabel } from './graph.ts';
import { isExternal, readTensor } from './tensor-data.ts';

export interface RandomisedModel {
  bytes: Uint8Array;
  /** The convolutions whose weights were redrawn, the one nearest the features first. */
  layers: { node: string; weight: string; count: number; std: number }[];
  seed: number;
}

/** Conv nodes the feature tensor depends on, in graph order (the file's topological order). */
export function convolutionsBefore(index: GraphIndex, featureTensor: string): { node: string; weight: string; position: number }[] {
  if (!index.producer.has(featureTensor)) throw new InputError(`randomisation: no node produces the feature tensor '${featureTensor}'`);
  const needed = new Set<string>();
  const stack = [featureTensor];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const p = index.producer.get(t);
    for (const i of p?.input ?? []) if (i) stack.push(i);
  }
  const out: { node: string; weight: string; position: number }[] = [];
  index.nodes.forEach((n, position) => {
    if (n.opType !== 'Conv' || !(n.output ?? []).some((o) => o && needed.has(o))) return;
    const w = n.input?.[1];
    if (w && index.initializers.has(w)) out.push({ node: nodeLabel(n), weight: w, position });
  });
  return out;
}

/**
 * Redraw the weights of the last `count` convolutions before `featureTensor` (see the module doc).
 * @throws InputError when the model has fewer such convolutions, or keeps them outside the file.
 */
export function randomiseTopConvolutions(bytes: Uint8Array, modelDir: string, featureTensor: string, count: number, seed = 0): RandomisedModel {
  if (!Number.isInteger(count) || count < 1) throw new InputError(`randomisation: the number of layers must be a positive integer, got ${count}`);
  const model: ModelProto = decodeModel(bytes);
  const index = new GraphIndex(model, modelDir);
  const convs = convolutionsBefore(index, featureTensor);
  if (convs.length < count) throw new InputError(`randomisation: ${count} layers asked for, but only ${convs.length} convolutions with stored weights come before '${featureTensor}'`);
  const chosen = convs.slice(-count).reverse();
  const layers: RandomisedModel['layers'] = [];
  chosen.forEach((c, j) => {
    const t: TensorProto = index.initializers.get(c.weight)!;
    if (isExternal(t)) throw new InputError(`randomisation: the weights '${c.weight}' of ${c.node} are stored outside the model file; save the model with its data inside`);
    if (t.dataType !== DataType.FLOAT) throw new InputError(`randomisation: the weights '${c.weight}' of ${c.node} are not float32`);
    const w = readTensor(t, modelDir).data;
    let mean = 0;
    for (const v of w) mean += v;
    mean /= w.length;
    let v2 = 0;
    for (const v of w) v2 += (v - mean) ** 2;
    const std = Math.sqrt(v2 / w.length);
    const rng = new Rng(seed).fork(j);
    const fresh = Float32Array.from({ length: w.length }, () => std * rng.normal());
    t.rawData = new Uint8Array(fresh.buffer);
    t.floatData = [];
    layers.push({ node: c.node, weight: c.weight, count: w.length, std });
  });
  return { bytes: encodeModel(model), layers, seed };
}
