/**
 * Reading the values of ONNX TensorProtos: inline (raw_data or the typed *_data fields) or stored in
 * an external data file next to the model. Head weights are read here; onnxruntime reads the rest.
 */
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { DataType, onnx, toNumber, type TensorProto } from '../onnx/proto.ts';
import { InputError } from '../util/errors.ts';

/** A constant tensor's values widened to float64, with its dims (row-major). */
export interface ConstTensor {
  dims: number[];
  data: Float64Array;
}

/** Where a tensor's external data lives, resolved against the model's folder. */
export interface ExternalDataRef {
  tensor: string;
  location: string;
  path: string;
  offset: number;
  length: number | null;
}

const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

/** A readable name for an ONNX data type code. */
export function dataTypeName(code: number | null | undefined): string {
  return DATA_TYPE_NAMES[code ?? 0] ?? `type ${code}`;
}

const BYTES_PER_ELEMENT: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8 };

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** The external-data reference of a tensor stored outside the model file, or null when inline. */
export function externalDataRef(t: TensorProto, modelDir: string): ExternalDataRef | null {
  if (!isExternal(t)) return null;
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new InputError(`tensor '${t.name}' is marked as external data but names no 'location'`);
  const offset = entries.has('offset') ? Number(entries.get('offset')) : 0;
  const length = entries.has('length') ? Number(entries.get('length')) : null;
  if (!Number.isInteger(offset) || offset < 0 || (length !== null && (!Number.isInteger(length) || length < 0))) {
    throw new InputError(`tensor '${t.name}': external data offset/length must be non-negative integers, got offset '${entries.get('offset')}', length '${entries.get('length')}'`);
  }
  const path = isAbsolute(location) ? location : normalize(join(modelDir, location));
  return { tensor: t.name ?? '', location, path, offset, length };
}

/**
 * Every external-data reference of a graph's initializers, each checked to exist and to be long
 * enough: a missing file is an InputError naming the tensor and the file.
 */
export function checkExternalData(initializers: readonly TensorProto[], modelDir: string, modelPath: string): ExternalDataRef[] {
  const refs: ExternalDataRef[] = [];
  for (const t of initializers) {
    const ref = externalDataRef(t, modelDir);
    if (!ref) continue;
    if (!existsSync(ref.path)) {
      throw new InputError(`model '${modelPath}': tensor '${ref.tensor}' stores its data in external file '${ref.location}' (looked for ${ref.path}), which does not exist`);
    }
    const size = statSync(ref.path).size;
    const needed = ref.offset + (ref.length ?? 0);
    if (needed > size) {
      throw new InputError(`model '${modelPath}': tensor '${ref.tensor}' needs bytes ${ref.offset}..${needed} of external file '${ref.location}', which has only ${size} bytes`);
    }
    refs.push(ref);
  }
  return refs;
}

function readExternalBytes(ref: ExternalDataRef, expected: number): Uint8Array {
  if (!existsSync(ref.path)) throw new InputError(`tensor '${ref.tensor}' stores its data in external file '${ref.location}' (looked for ${ref.path}), which does not exist`);
  const length = ref.length ?? expected;
  if (length !== expected) throw new InputError(`tensor '${ref.tensor}': external data length ${length} bytes, ${expected} expected from its dims and type`);
  const out = new Uint8Array(length);
  const fd = openSync(ref.path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, ref.offset + done);
      if (n === 0) throw new InputError(`tensor '${ref.tensor}': external file '${ref.location}' ends before byte ${ref.offset + length}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function fromBytes(bytes: Uint8Array, dataType: number, count: number, name: string): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(count);
  const size = BYTES_PER_ELEMENT[dataType];
  if (bytes.byteLength !== count * size) throw new InputError(`tensor '${name}': ${bytes.byteLength} bytes of data, ${count * size} expected for ${count} ${dataTypeName(dataType)} values`);
  for (let i = 0; i < count; i++) {
    switch (dataType) {
      case DataType.FLOAT: out[i] = view.getFloat32(i * 4, true); break;
      case DataType.DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
      case DataType.INT64: out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case DataType.INT32: out[i] = view.getInt32(i * 4, true); break;
      case DataType.FLOAT16: out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case DataType.UINT8: out[i] = view.getUint8(i); break;
      case DataType.INT8: out[i] = view.getInt8(i); break;
      case DataType.BOOL: out[i] = view.getUint8(i) ? 1 : 0; break;
    }
  }
  return out;
}

/**
 * A tensor's values as float64. Supports float32/64, float16, int8/32/64, uint8 and bool, inline or
 * external (resolved against modelDir).
 */
export function readTensor(t: TensorProto, modelDir: string): ConstTensor {
  const dims = (t.dims ?? []).map((d) => toNumber(d));
  const count = dims.reduce((a, b) => a * b, 1);
  const dataType = t.dataType ?? 0;
  const name = t.name ?? '';
  if (BYTES_PER_ELEMENT[dataType] === undefined) throw new InputError(`tensor '${name}' has data type ${dataTypeName(dataType)}, which protolens cannot read as a number`);
  const ref = externalDataRef(t, modelDir);
  if (ref) return { dims, data: fromBytes(readExternalBytes(ref, count * BYTES_PER_ELEMENT[dataType]), dataType, count, name) };
  if (t.rawData && t.rawData.length > 0) return { dims, data: fromBytes(t.rawData, dataType, count, name) };
  let values: ArrayLike<number | { toNumber(): number }> | null | undefined;
  if (dataType === DataType.FLOAT) values = t.floatData;
  else if (dataType === DataType.DOUBLE) values = t.doubleData;
  else if (dataType === DataType.INT64) values = t.int64Data;
  else values = t.int32Data;
  const n = values?.length ?? 0;
  if (n !== count) throw new InputError(`tensor '${name}': ${n} values stored, ${count} expected for dims [${dims.join(', ')}]`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = toNumber(values![i] as number | { toNumber(): number });
    out[i] = dataType === DataType.FLOAT16 ? halfToFloat(v) : v;
  }
  return { dims, data: out };
}
