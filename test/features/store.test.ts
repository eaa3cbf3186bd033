import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureStore, cacheKeyHash, type FeatureCacheKey } from '../../src/features/store.ts';

const key: FeatureCacheKey = { modelSha256: 'ab', featureTensor: 'relu', preprocess: { size: [8, 8], mean: [0, 0, 0] }, H: 2, W: 2, D: 3, numClasses: 2 };

test('cache key hash ignores key order and changes with any field', () => {
  const reordered = { numClasses: 2, D: 3, W: 2, H: 2, preprocess: { mean: [0, 0, 0], size: [8, 8] }, featureTensor: 'relu', modelSha256: 'ab' };
  assert.equal(cacheKeyHash(key), cacheKeyHash(reordered));
  assert.notEqual(cacheKeyHash(key), cacheKeyHash({ ...key, modelSha256: 'ac' }));
  assert.notEqual(cacheKeyHash(key), cacheKeyHash({ ...key, preprocess: { size: [8, 8], mean: [0, 0, 1] } }));
});

test('a class is trusted only for the same image list; round trip is exact', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fs-'));
  const store = await FeatureStore.open(root, key);
  const items = ['a.jpg', 'b.jpg'];
  assert.equal(await store.has(0, items), false);
  const features = Float32Array.from({ length: 2 * 4 * 3 }, (_, i) => i / 7);
  const logits = Float32Array.from([1, 2, 3, 4]);
  await store.write({ classIndex: 0, features, logits, items, n: 2, failures: [{ path: 'c.jpg', reason: 'corrupt' }] }, [...items, 'c.jpg']);
  assert.equal(await store.has(0, [...items, 'c.jpg']), true);
  assert.equal(await store.has(0, items), false, 'another requested list is not trusted');
  const back = await store.read(0);
  assert.deepEqual([...back.features], [...features]);
  assert.deepEqual(back.items, items);
  assert.deepEqual(back.failures, [{ path: 'c.jpg', reason: 'corrupt' }]);
  // reopening finds the same folder and data
  const again = await FeatureStore.open(root, key);
  assert.equal(again.dir, store.dir);
  assert.equal(await again.has(0, [...items, 'c.jpg']), true);
});

test('a truncated class file is not trusted', async () => {
  const root = await mkdtemp(join(tmpdir(), 'fs-'));
  const store = await FeatureStore.open(root, key);
  await writeFile(store.classPath(1), Buffer.from([1, 2, 3]));
  assert.equal(await store.has(1, ['x']), false);
  assert.ok((await readdir(store.dir)).includes('key.json'));
});

test('write refuses a feature array of the wrong size', async () => {
  const store = await FeatureStore.open(await mkdtemp(join(tmpdir(), 'fs-')), key);
  await assert.rejects(store.write({ classIndex: 0, features: new Float32Array(5), logits: new Float32Array(2), items: ['a'], n: 1, failures: [] }, ['a']), /5 feature values/);
});

test('kept pictures round-trip byte for byte; a class without them reads without them; bad offsets are refused', async () => {
  const store = await FeatureStore.open(await mkdtemp(join(tmpdir(), 'fs-')), key);
  const features = new Float32Array(3 * 4 * 3);
  const pictures = [Uint8Array.from([1, 2, 3]), new Uint8Array(0), Uint8Array.from([9, 8, 7, 6, 5])];
  await store.write({ classIndex: 0, features, logits: new Float32Array(6), items: ['a', 'b', 'c'], n: 3, failures: [], pictures }, ['a', 'b', 'c']);
  assert.deepEqual((await store.read(0)).pictures?.map((p) => [...p]), pictures.map((p) => [...p]));
  await store.write({ classIndex: 1, features, logits: new Float32Array(6), items: ['a', 'b', 'c'], n: 3, failures: [] }, ['a', 'b', 'c']);
  assert.equal((await store.read(1)).pictures, undefined);
  await assert.rejects(store.write({ classIndex: 2, features, logits: new Float32Array(6), items: ['a', 'b', 'c'], n: 3, failures: [], pictures: pictures.slice(1) }, ['a']), /2 pictures for 3 images/);
  // offsets that do not span the bytes
  const { writeSafetensors, tensorOf } = await import('../../src/io/safetensors.ts');
  await writeSafetensors(store.classPath(3), {
    features: tensorOf(features, [3, 4, 3]),
    logits: tensorOf(new Float32Array(6), [3, 2]),
    pictures: tensorOf(Uint8Array.from([1, 2]), [2]),
    picture_offsets: tensorOf(Int32Array.from([0, 1, 2, 5]), [4]),
  }, { items: '["a","b","c"]' });
  await assert.rejects(store.read(3), /'pictures' and 'picture_offsets' do not describe 3 pictures/);
});
