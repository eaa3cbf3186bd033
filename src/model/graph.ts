/**
 * A read-only index over an ONNX graph: who produces and who consumes each tensor, which tensors are
 * constants (initializers, Constant nodes, Identity of either), declared shapes, and node attributes.
 * Head detection is pure analysis over this index.
 */
import { toNumber, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.ts';
import { InputError } from '../util/errors.ts';
import { readTensor, type ConstTensor } from './tensor-data.ts';

/** A declared dimension: a number, a symbolic name, or null when unknown. */
export type DeclaredDim = number | string | null;

/** A graph node as reported to users: op type, name, inputs, outputs. */
export interface NodeRef {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
}

/** `Op 'name'` (falls back to the first output when the node has no name). */
export function nodeLabel(n: NodeProto): string {
  return `${n.opType} '${n.name || n.output?.[0] || '?'}'`;
}

export function nodeRef(n: NodeProto): NodeRef {
  return { op: n.opType ?? '', name: n.name || n.output?.[0] || '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])] };
}

/** A readable value of an attribute (number, numbers, string, tensor) or undefined when absent. */
export type AttrRead = number | number[] | string | TensorProto | undefined;

export function attr(n: NodeProto, name: string): AttrRead {
  const a: AttributeProto | undefined = (n.attribute ?? []).find((x) => x.name === name);
  if (!a) return undefined;
  switch (a.type) {
    case 1: return a.f ?? 0; // FLOAT
    case 2: return toNumber(a.i as number); // INT
    case 3: return new TextDecoder().decode(a.s ?? new Uint8Array()); // STRING
    case 4: return a.t ?? undefined; // TENSOR
    case 6: return [...(a.floats ?? [])]; // FLOATS
    case 7: return (a.ints ?? []).map((v) => toNumber(v as number)); // INTS
    default: return undefined;
  }
}

export function numAttr(n: NodeProto, name: string, fallback: number): number {
  const v = attr(n, name);
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && v.length === 1) return v[0];
  return fallback;
}

export function intsAttr(n: NodeProto, name: string): number[] | undefined {
  const v = attr(n, name);
  if (Array.isArray(v)) return v;
  if (typeof v === 'number') return [v];
  return undefined;
}

export class GraphIndex {
  readonly graph: GraphProto;
  readonly nodes: NodeProto[];
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  /** Graph outputs, in order. */
  readonly outputs: string[];
  /** Graph inputs that are not initializers (the real inputs). */
  readonly inputs: ValueInfoProto[];
  /** Default-domain opset version. */
  readonly opset: number;
  private readonly declared = new Map<string, DeclaredDim[] | null>();
  private readonly constCache = new Map<string, ConstTensor | null>();

  constructor(model: ModelProto, readonly modelDir: string) {
    if (!model.graph) throw new InputError('the model has no graph');
    this.graph = model.graph;
    this.nodes = model.graph.node ?? [];
    for (const t of model.graph.initializer ?? []) if (t.name) this.initializers.set(t.name, t);
    for (const n of this.nodes) {
      for (const o of n.output ?? []) if (o) this.producer.set(o, n);
      for (const i of n.input ?? []) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) { if (!list.includes(n)) list.push(n); } else this.consumers.set(i, [n]);
      }
    }
    this.outputs = (model.graph.output ?? []).map((o) => o.name ?? '');
    this.inputs = (model.graph.input ?? []).filter((i) => !this.initializers.has(i.name ?? ''));
    const def = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
    this.opset = def ? toNumber(def.version as number) : 1;
    for (const vi of [...(model.graph.input ?? []), ...(model.graph.output ?? []), ...(model.graph.valueInfo ?? [])]) {
      const shape = vi.type?.tensorType?.shape;
      if (!vi.name) continue;
      this.declared.set(vi.name, shape ? (shape.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue as number) > 0 ? toNumber(d.dimValue as number) : d.dimParam ? d.dimParam : null)) : null);
    }
  }

  consumersOf(tensor: string): NodeProto[] {
    return this.consumers.get(tensor) ?? [];
  }

  isGraphOutput(tensor: string): boolean {
    return this.outputs.includes(tensor);
  }

  /** The shape declared for a tensor in inputs, outputs or value_info (null when none is declared). */
  declaredShape(tensor: string): DeclaredDim[] | null {
    return this.declared.get(tensor) ?? null;
  }

  /**
   * The value of a constant tensor: an initializer, the output of a Constant node, or an Identity /
   * Cast-free chain of those. Null when the tensor is computed from the input.
   */
  constant(tensor: string): ConstTensor | null {
    if (this.constCache.has(tensor)) return this.constCache.get(tensor)!;
    let value: ConstTensor | null = null;
    const init = this.initializers.get(tensor);
    if (init) value = readTensor(init, this.modelDir);
    else {
      const p = this.producer.get(tensor);
      if (p?.opType === 'Constant') value = this.constantNodeValue(p);
      else if (p?.opType === 'Identity' && p.input?.[0]) value = this.constant(p.input[0]);
    }
    this.constCache.set(tensor, value);
    return value;
  }

  private constantNodeValue(n: NodeProto): ConstTensor | null {
    const t = attr(n, 'value');
    if (t && typeof t === 'object' && !Array.isArray(t)) return readTensor(t, this.modelDir);
    const f = attr(n, 'value_float') ?? attr(n, 'value_int');
    if (typeof f === 'number') return { dims: [], data: Float64Array.of(f) };
    const fs = attr(n, 'value_floats') ?? attr(n, 'value_ints');
    if (Array.isArray(fs)) return { dims: [fs.length], data: Float64Array.from(fs) };
    return null;
  }

  /** The last `count` nodes of the graph in file order, for error messages. */
  tail(count: number): NodeRef[] {
    return this.nodes.slice(-count).map(nodeRef);
  }
}

/** One line per node: `Op 'name' (inputs) -> (outputs)`. */
export function formatNodes(nodes: readonly NodeRef[]): string {
  return nodes.map((n) => `  ${n.op} '${n.name}' (${n.inputs.filter(Boolean).join(', ')}) -> (${n.outputs.join(', ')})`).join('\n');
}
