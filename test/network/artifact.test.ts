import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetwork, saveNetwork, NETWORK_SCHEMA, type NetworkManifest, type NetworkTensors } from '../../src/network/artifact.ts';
import { CheckError, InputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';

function fixture(C = 3, k = 2, D = 4): { manifest: NetworkManifest; tensors: NetworkTensors } {
  const rng = new Rng(5);
  const prototypes = Float32Array.from({ length: C * k * D }, () => rng.normal());
  const headWeight = new Float32Array(C * D);
  for (let c = 0; c < C; c++) for (let j = 0; j < D; j++) for (let i = 0; i < k; i++) headWeight[c * D + j] += prototypes[(c * k + i) * D + j];
  // make the float32 sum exact: put the rounding of W back into the last prototype
  for (let c = 0; c < C; c++) for (let j = 0; j < D; j++) {
    let s = 0;
    for (let i = 0; i < k - 1; i++) s += prototypes[(c * k + i) * D + j];
    prototypes[(c * k + k - 1) * D + j] = headWeight[c * D + j] - s;
  }
  const manifest: NetworkManifest = {
    schema: NETWORK_SCHEMA, schemaVersion: 1, generator: { name: 'protolens', version: 'test' },
    model: { path: 'm.onnx', sha256: 'x', inputName: 'input', featureTensor: 'f', logitsOutput: 'logits' },
    input: { height: 8, width: 8 }, featureMap: { height: 2, width: 2, channels: D, nonNegative: true },
    preprocess: {}, dataset: { root: '.', format: 'cub', split: 'train', maxImagesPerClass: null },
    classNames: Array.from({ length: C }, (_, c) => `c${c}`), k, options: {}, seed: 0, classes: [], failures: [], exemplars: null, tensors: 'prototypes.safetensors',
  };
  return {
    manifest,
    tensors: { prototypes, initialPrototypes: prototypes.map(Math.abs), alpha: new Float32Array(C * k).fill(1), residualTerm: new Float32Array(C * D), headWeight, bias: Float32Array.from({ length: C }, (_, c) => c) },
  };
}

test('save then load returns identical tensors and manifest', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'net-'));
  const { manifest, tensors } = fixture();
  await saveNetwork(dir, manifest, tensors);
  const net = await loadNetwork(dir);
  assert.deepEqual(net.manifest, manifest);
  for (const key of ['prototypes', 'initialPrototypes', 'alpha', 'residualTerm', 'headWeight', 'bias'] as const) {
    assert.deepEqual(Buffer.from(net[key].buffer, net[key].byteOffset, net[key].byteLength), Buffer.from(tensors[key].buffer), key);
  }
});

test('load refuses prototypes that no longer sum to the head', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'net-'));
  const { manifest, tensors } = fixture();
  tensors.prototypes[5] += 1e-2;
  await saveNetwork(dir, manifest, tensors);
  await assert.rejects(loadNetwork(dir), (e: unknown) => e instanceof CheckError && /class 0 \('c0'\)/.test(e.message));
});

test('a folder without a manifest, or with a wrong tensor shape, is an InputError naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'net-'));
  await assert.rejects(loadNetwork(dir), (e: unknown) => e instanceof InputError && e.message.includes('not a protolens network folder'));
  const { manifest, tensors } = fixture();
  await saveNetwork(dir, manifest, tensors);
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  m.k = 3;
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
  await assert.rejects(loadNetwork(dir), /expected tensor 'prototypes' float32 \[3, 3, 4\], found F32 \[3, 2, 4\]/);
});

test('a non-finite value in any tensor is a CheckError naming the tensor, index and class (NaN passed the sum check before)', async () => {
  for (const [key, name] of [['headWeight', 'head_weight'], ['bias', 'bias'], ['alpha', 'alpha'], ['prototypes', 'prototypes']] as const) {
    const dir = await mkdtemp(join(tmpdir(), 'net-nan-'));
    const { manifest, tensors } = fixture();
    tensors[key][key === 'bias' ? 1 : key === 'alpha' ? 3 : key === 'prototypes' ? 9 : 5] = key === 'alpha' ? Infinity : NaN;
    await saveNetwork(dir, manifest, tensors);
    await assert.rejects(loadNetwork(dir), (e) => e instanceof CheckError && new RegExp(`tensor '${name}' holds (NaN|Infinity) at \\[1(, \\d+)*\\] \\(class 'c1'\\)`).test((e as Error).message), name);
  }
});

test('a damaged manifest (null, not an object, no class names, bad k or feature map) is an InputError naming the field', async () => {
  const cases: [unknown, RegExp][] = [
    [null, /expected a JSON object, got null/],
    [[1, 2], /expected a JSON object/],
    ['text', /expected a JSON object/],
  ];
  const { manifest } = fixture();
  const without = (key: string) => Object.fromEntries(Object.entries(manifest).filter(([k]) => k !== key));
  cases.push([without('classNames'), /'classNames' must be a non-empty list of strings, got undefined/]);
  cases.push([{ ...manifest, k: 0 }, /'k' must be a positive integer, got 0/]);
  cases.push([{ ...manifest, featureMap: { ...manifest.featureMap, channels: 'four' } }, /'featureMap.channels' must be a positive integer, got "four"/]);
  cases.push([without('classes'), /'classes' must be the list of per-class summaries/]);
  for (const [content, re] of cases) {
    const dir = await mkdtemp(join(tmpdir(), 'net-bad-'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(content));
    await assert.rejects(loadNetwork(dir), (e) => e instanceof InputError && re.test((e as Error).message), String(re));
  }
});
