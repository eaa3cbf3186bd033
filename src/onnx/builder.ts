/**
 * A tiny ONNX graph builder: tests build their models with it, the linear-algebra engine builds its
 * onnxruntime graphs with it, and the exporter extends real models with it.
 */
import { DataType, encodeModel, onnx, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.ts';

export type Dim = number | string;
export type AttrValue = number | string | number[] | string[] | TensorProto | { ints: number[] } | { floats: number[] };

/** A float32 (or int64 / int32) initializer tensor. */
export function tensor(name: string, dims: readonly number[], data: ArrayLike<number> | Float32Array, dataType: number = DataType.FLOAT): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(', ')}] (${count} expected)`);
  let raw: Uint8Array;
  if (dataType === DataType.FLOAT) raw = new Uint8Array(Float32Array.from(data).buffer);
  else if (dataType === DataType.INT64) raw = new Uint8Array(BigInt64Array.from(Array.from(data, (x) => BigInt(Math.trunc(x)))).buffer);
  else if (dataType === DataType.INT32) raw = new Uint8Array(Int32Array.from(data).buffer);
  else if (dataType === DataType.DOUBLE) raw = new Uint8Array(Float64Array.from(data).buffer);
  else throw new Error(`tensor ${name}: unsupported data type ${dataType}`);
  return { name, dims: [...dims], dataType, rawData: raw };
}

export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return tensor(name, dims, values, DataType.INT64);
}

function attribute(name: string, value: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) && !Object.is(value, -0) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') return { name, type: T.STRINGS, strings: (value as string[]).map((s) => new TextEncoder().encode(s)) };
    const nums = value as number[];
    return nums.every((x) => Number.isInteger(x)) ? { name, type: T.INTS, ints: nums } : { name, type: T.FLOATS, floats: nums };
  }
  if ('ints' in value) return { name, type: T.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  return { name, type: T.TENSOR, t: value };
}

/** Force a float attribute even when the value is integral (e.g. alpha = 1 on Gemm). */
export function float(value: number): { floats: number[] } & { single: true } {
  return { floats: [value], single: true } as { floats: number[] } & { single: true };
}

export function node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue | ReturnType<typeof float>> = {}, name?: string): NodeProto {
  const attribute_: AttributeProto[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'object' && v !== null && 'single' in v) {
      attribute_.push({ name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v.floats[0] });
    } else attribute_.push(attribute(k, v as AttrValue));
  }
  return { opType, input: inputs, output: outputs, attribute: attribute_, name: name ?? `${opType}_${outputs[0]}` };
}

export function valueInfo(name: string, shape: readonly Dim[] | null, elemType: number = DataType.FLOAT): ValueInfoProto {
  const tensorType: Record<string, unknown> = { elemType };
  if (shape) tensorType.shape = { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

export interface GraphSpec {
  name?: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  opset?: number;
  producer?: string;
}

/** Serialise a graph to ONNX ModelProto bytes (IR version 8, default opset 17). */
export function buildModel(spec: GraphSpec): Uint8Array {
  return encodeModel({
    irVersion: 8,
    producerName: spec.producer ?? 'protolens',
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: spec.name ?? 'graph',
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  });
}
