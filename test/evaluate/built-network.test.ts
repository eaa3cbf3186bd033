// A network made by the real build (NMF + refinement) for a small ResNet-like model, evaluated whole.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildNetwork } from '../../src/builder/build.ts';
import { loadImage } from '../../src/data/load.ts';
import { openDataset } from '../../src/data/open.ts';
import { validatePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { writeCubFixture, type CubFixture } from '../helpers/cub-fixture.ts';
import { evaluateNetwork } from '../../src/evaluate/evaluate-network.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { loadNetwork } from '../../src/network/artifact.ts';

let dir: string;
let cub: CubFixture;
let model: string;
let net: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-evaluate-built-'));
  model = join(dir, 'model.onnx');
  writeFileSync(model, buildResNetLike({ seed: 3, numClasses: 4, inputSize: 32 }).model);
  cub = await writeCubFixture(join(dir, 'cub'), { classes: 4, imagesPerClass: 8, width: 48, height: 40, testEvery: 4 });
  net = join(dir, 'net');
  await buildNetwork({ model, data: cub.root, out: net, decompose: { k: 3 }, exemplars: 0, threads: 1 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('fidelity on a built network: 100% agreement, logits within 1e-4, accuracy equal to a plain recomputation', async () => {
  const r = await evaluateNetwork({ net, data: cub.root, deletion: { images: 2 }, seed: 5 });
  const f = r.metrics.fidelity!;
  assert.equal(f.images, 8);
  assert.equal(f.agreement, 1);
  assert.equal(f.disagreementCount, 0);
  assert.ok(f.maxAbsLogitDiff <= 1e-4, `max |logit difference| ${f.maxAbsLogitDiff}`);
  assert.ok(f.pass && r.checks.passed);
  assert.equal(f.prototypeNetwork.top1, f.blackBox.top1);
  assert.equal(f.blackBox.top5, null, 'fewer than 5 classes');

  // Independent top-1: each test image preprocessed alone, the model file in its own session.
  const cfg = validatePreprocessConfig((await loadNetwork(net)).manifest.preprocess, 'manifest');
  const ds = await openDataset(cub.root, { split: 'test' });
  const session = await ort.InferenceSession.create(model);
  let correct = 0;
  try {
    for await (const it of ds.items()) {
      const { tensor } = await loadImage(it, cfg);
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(tensor), [1, 3, 32, 32]) });
      const l = out.logits.data as Float32Array;
      const pred = l.indexOf(Math.max(...l));
      if (pred === it.label) correct++;
    }
  } finally {
    await session.release();
  }
  assert.equal(f.blackBox.top1, correct / 8);

  // The network's preprocessing (ImageNet normalisation, no box crop) is not the protocol's: two passes.
  assert.equal(r.preprocess.sharedPass, false);
  assert.deepEqual(r.timing.passes.map((p) => p.purpose), ['network', 'protocol']);
  assert.equal(r.preprocess.protocol!.cropToBox, true);
  assert.equal(r.preprocess.network.cropToBox, false);
  assert.deepEqual(Object.keys(r.metrics.parts!.sets), ['refined', 'initial', 'random']);
  assert.ok(r.metrics.axioms!.pass, r.metrics.axioms!.failure ?? '');
  assert.equal(r.metrics.deletion!.images, 2);
  assert.equal(r.schema, 'protolens.evaluation');
  assert.equal(r.version, 1);
  assert.equal(r.seed, 5);
  assert.equal(r.network.allocator, (await loadNetwork(net)).manifest.options.allocator);
});

test('maxImages takes an evenly spaced subset; ImageFolder data skips consistency and stability with a warning', async () => {
  const r = await evaluateNetwork({ net, data: cub.root, metrics: ['fidelity'], maxImages: 3 });
  assert.equal(r.dataset.selected, 3);
  assert.equal(r.metrics.fidelity!.images, 3);
  assert.equal(r.dataset.size, 8);

  const folder = join(cub.root, 'images');
  const plain = await evaluateNetwork({ net, data: folder, metrics: undefined, deletion: { images: 1 }, axioms: { images: 2 } });
  assert.deepEqual(plain.metricsRun, ['fidelity', 'deletion', 'axioms']);
  assert.equal(plain.dataset.format, 'imagefolder');
  assert.match(plain.warnings.join('\n'), /consistency, stability, distinctiveness, comprehensiveness skipped/);
  await assert.rejects(evaluateNetwork({ net, data: folder, metrics: ['consistency'] }), /metrics: consistency needs a CUB-200-2011 layout dataset with parts/);
});
