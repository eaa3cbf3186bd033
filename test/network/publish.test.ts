// Publishing a network folder: a process killed at any step leaves the old network or the new one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetwork, saveNetwork, NETWORK_SCHEMA, type NetworkManifest, type NetworkTensors } from '../../src/network/artifact.ts';
import { classifyFolder, finishPublish, publishStaged, PUBLISH_DIR, type PublishStep } from '../../src/network/publish.ts';

/** A consistent network with k prototypes per class (prototypes sum exactly to the head). */
function network(k: number, withExemplars: boolean): { manifest: NetworkManifest; tensors: NetworkTensors } {
  const C = 2, D = 3;
  const prototypes = new Float32Array(C * k * D).fill(0.5);
  const headWeight = new Float32Array(C * D).fill(0.5 * k);
  const manifest = {
    schema: NETWORK_SCHEMA, schemaVersion: 1, generator: { name: 'protolens', version: 'test' },
    model: { path: 'm.onnx', sha256: 'x', inputName: 'input', featureTensor: 'f', logitsOutput: 'logits' },
    input: { height: 8, width: 8 }, featureMap: { height: 2, width: 2, channels: D, nonNegative: true },
    preprocess: {}, dataset: { root: '.', format: 'cub', split: 'train', maxImagesPerClass: null },
    classNames: ['a', 'b'], k, options: {}, seed: 0, classes: [], failures: [],
    exemplars: withExemplars ? { perPrototype: 1, percentile: 95, index: 'exemplars/index.json' } : null, tensors: 'prototypes.safetensors',
  } as unknown as NetworkManifest;
  return { manifest, tensors: { prototypes, initialPrototypes: prototypes, alpha: new Float32Array(C * k).fill(1), residualTerm: new Float32Array(C * D), headWeight, bias: new Float32Array(C) } };
}

async function stage(dir: string, k: number, withExemplars: boolean): Promise<string> {
  const staging = join(dir, `.building-${process.pid}-0000000${k}`);
  mkdirSync(staging);
  if (withExemplars) {
    mkdirSync(join(staging, 'exemplars'));
    writeFileSync(join(staging, 'exemplars', 'index.json'), JSON.stringify({ k }));
  }
  const n = network(k, withExemplars);
  await saveNetwork(staging, n.manifest, n.tensors);
  return staging;
}

class Killed extends Error {}

test('killed after every step of a publish, the folder reads as the new network once finished; never a mixed one', async () => {
  // Find the steps of an uninterrupted publish first.
  const steps: PublishStep[] = [];
  {
    const dir = await mkdtemp(join(tmpdir(), 'publish-'));
    const old = network(2, true);
    await saveNetwork(dir, old.manifest, old.tensors);
    await publishStaged(dir, await stage(dir, 3, true), (s) => steps.push(s));
    assert.equal((await loadNetwork(dir)).k, 3);
  }
  assert.deepEqual(steps, ['manifest-aside', 'moved exemplars', 'moved prototypes.safetensors', 'moved manifest.json', 'cleaned']);
  for (const step of steps) {
    for (const newHasExemplars of [true, false]) {
      if (step === 'moved exemplars' && !newHasExemplars) continue; // no such step without exemplars
      const dir = await mkdtemp(join(tmpdir(), 'publish-kill-'));
      const old = network(2, true);
      await saveNetwork(dir, old.manifest, old.tensors);
      mkdirSync(join(dir, 'exemplars'));
      writeFileSync(join(dir, 'exemplars', 'index.json'), JSON.stringify({ k: 2 }));
      writeFileSync(join(dir, 'notes.txt'), 'the user\'s'); // not the network's: survives everything
      const staging = await stage(dir, 3, newHasExemplars);
      await assert.rejects(
        publishStaged(dir, staging, (s) => {
          if (s === step) throw new Killed(`killed after ${step}`);
        }),
        Killed,
      );
      // The next command that opens the folder finishes the publish.
      assert.equal(existsSync(join(dir, PUBLISH_DIR)), step !== 'cleaned', `journal present after ${step}`);
      assert.equal((await classifyFolder(dir)).kind, 'network', `still recognised as a network after ${step}`);
      const net = await loadNetwork(dir);
      assert.equal(net.k, 3, `after ${step}`);
      const exemplars = existsSync(join(dir, 'exemplars', 'index.json')) ? JSON.parse(await (await import('node:fs/promises')).readFile(join(dir, 'exemplars', 'index.json'), 'utf8')).k : null;
      assert.equal(exemplars, newHasExemplars ? 3 : null, `exemplars after ${step}`);
      assert.deepEqual(readdirSync(dir).sort(), [...(newHasExemplars ? ['exemplars'] : []), 'manifest.json', 'notes.txt', 'prototypes.safetensors'].sort(), `after ${step}`);
      assert.equal(await finishPublish(dir), false, 'nothing left to finish');
    }
  }
});

test('killed before the commit (staging written, not renamed): the old network is untouched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'publish-early-'));
  const old = network(2, false);
  await saveNetwork(dir, old.manifest, old.tensors);
  await stage(dir, 3, true);
  assert.equal((await loadNetwork(dir)).k, 2);
});

test('folders are recognised by the manifest\'s schema, never by its name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'classify-'));
  assert.deepEqual(await classifyFolder(join(dir, 'none')), { kind: 'absent' });
  assert.deepEqual(await classifyFolder(dir), { kind: 'empty' });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ name: 'my-app' }));
  const k = await classifyFolder(dir);
  assert.equal(k.kind, 'other');
  assert.match((k as { reason: string }).reason, /is not a protolens network manifest \(schema null, expected 'protolens.network'\)/);
  writeFileSync(join(dir, 'manifest.json'), '{ not json');
  assert.match((await classifyFolder(dir) as { reason: string }).reason, /is not JSON/);
  const net = network(2, false);
  await saveNetwork(dir, net.manifest, net.tensors);
  assert.deepEqual(await classifyFolder(dir), { kind: 'network' });
  writeFileSync(join(dir, 'file'), '');
  assert.match((await classifyFolder(join(dir, 'file')) as { reason: string }).reason, /exists and is not a folder/);
});
