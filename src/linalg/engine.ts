/**
 * The onnxruntime side of the linear-algebra engine: session creation with explicit threading,
 * and zero-copy wrappers between row-major typed arrays and ONNX tensors.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { DataType, onnx, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.ts';

/**
 * Default intra-op thread count of engine sessions: the machine's cores, at most 4 (the matrix
 * products of NMF stop scaling beyond that on the shapes measured; see docs/linalg.md).
 */
export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Create a CPU session with a fixed intra-op thread count, one inter-op thread, sequential
 * execution and only errors logged. Graph rewrites are off by default: the engine's graphs are
 * written op by op for numerical reasons (onnxruntime's optimiser turns Transpose(Gemm(F, X,
 * transA, transB)) into a product whose K-blocking, hence bits, depends on the thread count),
 * and measured no faster with them on. Constant initializers are still pre-packed.
 */
export async function createSession(model: Uint8Array, threads: number, optimization: 'disabled' | 'all' = 'disabled'): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: optimization,
    logSeverityLevel: 3,
  });
}

/** A float32 ONNX tensor viewing `data` (no copy). */
export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** A scalar int64 ONNX tensor. */
export function int64Scalar(value: number): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from([BigInt(value)]), []);
}

/** The float32 data of an output tensor. */
export function floatData(t: ort.Tensor | undefined, name: string): Float32Array {
  if (!t || t.type !== 'float32') throw new Error(`engine output ${name} is missing or not float32`);
  return t.data as Float32Array;
}

/**
 * A float32 initializer viewing the bytes of `data` (no copy here; the protobuf encoder copies
 * once into the model bytes). Requires a little-endian host, as onnxruntime does.
 */
export function floatInitializer(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A GRAPH-valued attribute (the body of Loop / branches of If), which builder.node() does not cover. */
export function graphAttribute(name: string, graph: { name: string; node: NodeProto[]; input: ValueInfoProto[]; output: ValueInfoProto[]; initializer?: TensorProto[] }): AttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.GRAPH, g: { ...graph, initializer: graph.initializer ?? [] } };
}
