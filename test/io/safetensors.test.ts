import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, tensorOf, writeSafetensors } from '../../src/io/safetensors.ts';
import { writeFileAtomic } from '../../src/io/atomic.ts';
import { InputError } from '../../src/util/errors.ts';

test('safetensors bytes follow the published layout (hand-built expectation)', () => {
  const chunks = encodeSafetensors({ a: tensorOf(new Float32Array([1, 2]), [2]) }, { k: 'v' });
  const buf = Buffer.concat(chunks);
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0, 'data section starts 8-byte aligned');
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  assert.deepEqual(header, { __metadata__: { k: 'v' }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  // 1.0f = 0x3f800000, 2.0f = 0x40000000, little-endian
  assert.deepEqual([...buf.subarray(8 + n)], [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
});

test('round trip keeps dtype, shape, values and metadata', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'st-'));
  const p = join(dir, 't.safetensors');
  const f = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 1e3);
  const d = Float64Array.from([Math.PI, -0]);
  const i = Int32Array.from([-7, 9, 11]);
  await writeSafetensors(p, { f: tensorOf(f, [2, 3, 4]), d: tensorOf(d, [2]), i: tensorOf(i, [3, 1]) }, { seed: '7' });
  const r = await readSafetensors(p);
  assert.deepEqual(r.metadata, { seed: '7' });
  assert.deepEqual(r.tensors.f.shape, [2, 3, 4]);
  assert.deepEqual([...r.tensors.f.data as Float32Array], [...f]);
  assert.equal(r.tensors.d.dtype, 'F64');
  assert.ok(Object.is((r.tensors.d.data as Float64Array)[1], -0));
  assert.deepEqual([...r.tensors.i.data as Int32Array], [-7, 9, 11]);
});

test('corrupt files are InputErrors naming the source', () => {
  assert.throws(() => decodeSafetensors(new Uint8Array(3), 'x.st'), (e: unknown) => e instanceof InputError && /x\.st/.test(e.message));
  const bad = Buffer.concat(encodeSafetensors({ a: tensorOf(new Float32Array(4), [4]) }));
  assert.throws(() => decodeSafetensors(bad.subarray(0, bad.length - 4), 'y.st'), /y\.st: tensor 'a'/);
  assert.throws(() => tensorOf(new Float32Array(3), [2, 2]), /needs 4 values/);
});

test('atomic write leaves no temporary files and replaces the target whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
  const p = join(dir, 'a.json');
  await writeFile(p, 'old');
  await writeFileAtomic(p, 'new content');
  assert.equal(await readFile(p, 'utf8'), 'new content');
  assert.deepEqual(await readdir(dir), ['a.json']);
});
