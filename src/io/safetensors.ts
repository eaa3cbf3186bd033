/**
 * safetensors (https://github.com/huggingface/safetensors) reader and writer: an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}},
 * then the raw little-endian tensor bytes, contiguous and in header order. Python opens these files
 * with `safetensors.numpy.load_file` or with numpy alone (see the README).
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.ts';
import { InputError } from '../util/errors.ts';

export type DType = 'F32' | 'F64' | 'I32' | 'I64' | 'U8';
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

const BYTES: Record<DType, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1 };

function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'F32';
  if (a instanceof Float64Array) return 'F64';
  if (a instanceof Int32Array) return 'I32';
  if (a instanceof BigInt64Array) return 'I64';
  return 'U8';
}

/** Shorthand: a tensor from a typed array and its shape (checked). */
export function tensorOf(data: TypedArray, shape: number[]): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`tensor of shape [${shape.join(', ')}] needs ${count} values, got ${data.length}`);
  return { dtype: dtypeOf(data), shape, data };
}

/** Serialise tensors (and string metadata) to safetensors bytes, as a list of chunks. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.data.length * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const pad = (8 - ((Buffer.byteLength(json) + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const chunks: Uint8Array[] = [len, headerBytes];
  for (const name of names) {
    const d = tensors[name].data;
    // Node and every platform onnxruntime supports are little-endian, as safetensors requires.
    chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return chunks;
}

export async function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Parse safetensors bytes; errors name the source and what is wrong. */
export function decodeSafetensors(buf: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  if (buf.length < 8) throw new InputError(`${source}: not a safetensors file (shorter than its 8-byte header length)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > buf.length - 8) throw new InputError(`${source}: header length ${n} exceeds the file size ${buf.length}`);
  let header: Record<string, { dtype: DType; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new InputError(`${source}: unreadable safetensors header (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: DType; shape: number[]; data_offsets: [number, number] };
    if (!(e.dtype in BYTES)) throw new InputError(`${source}: tensor '${name}' has unsupported dtype ${e.dtype}`);
    const [begin, end] = e.data_offsets;
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[e.dtype] || dataStart + end > buf.length) {
      throw new InputError(`${source}: tensor '${name}' offsets [${begin}, ${end}] do not match shape [${e.shape.join(', ')}] or the file size`);
    }
    // Copy into an aligned buffer: the data section need not be aligned for the typed array.
    const ab = new ArrayBuffer(end - begin);
    new Uint8Array(ab).set(buf.subarray(dataStart + begin, dataStart + end));
    const data: TypedArray =
      e.dtype === 'F32' ? new Float32Array(ab) : e.dtype === 'F64' ? new Float64Array(ab) : e.dtype === 'I32' ? new Int32Array(ab) : e.dtype === 'I64' ? new BigInt64Array(ab) : new Uint8Array(ab);
    tensors[name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeSafetensors(buf, path);
}

/** Read only the header (tensor table and metadata) without loading the tensor bytes. */
export async function readSafetensorsHeader(path: string): Promise<{ metadata: Record<string, string>; tensors: Record<string, { dtype: DType; shape: number[] }> }> {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, 'r');
  try {
    const len = Buffer.alloc(8);
    const { bytesRead } = await fh.read(len, 0, 8, 0);
    if (bytesRead < 8) throw new InputError(`${path}: not a safetensors file (shorter than its 8-byte header length)`);
    const n = Number(len.readBigUInt64LE(0));
    const { size } = await fh.stat();
    if (n > size - 8) throw new InputError(`${path}: header length ${n} exceeds the file size ${size}`);
    const hb = Buffer.alloc(n);
    await fh.read(hb, 0, n, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hb.toString('utf8'));
    } catch (e) {
      throw new InputError(`${path}: unreadable safetensors header (${(e as Error).message})`);
    }
    const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    delete header.__metadata__;
    return { metadata, tensors: header as Record<string, { dtype: DType; shape: number[] }> };
  } finally {
    await fh.close();
  }
}
