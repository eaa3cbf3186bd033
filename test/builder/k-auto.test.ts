// k 'auto' end to end on the demo's trained model and a small generated parts dataset: classes get
// different k, and explain, evaluate and export each use a class's own prototypes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { generatePartsDataset } from '../../src/data/synthetic/generate.ts';
import { readDemoModelRecord } from '../../src/demo/model-record.ts';
import { DEFAULT_DEMO_MODEL } from '../../src/demo/options.ts';
import { loadNetwork } from '../../src/network/artifact.ts';
import { protolens } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-k-auto-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("--k auto: per-class k in the network, and explain, evaluate and export use each class's own prototypes", { timeout: 600_000 }, async () => {
  const record = await readDemoModelRecord(DEFAULT_DEMO_MODEL.replace(/\.onnx$/, '.json'));
  const ds = await generatePartsDataset({ dir: join(tmp, 'dataset'), ...record.datasetParams, trainPerClass: 12, testPerClass: 4 });
  const net = join(tmp, 'net');
  const common = ['--crop-to-box', '--normalize', 'half'];
  const b = await protolens(['build', '--model', DEFAULT_DEMO_MODEL, '--data', ds.dir, ...common, '--k', 'auto', '--k-max', '5', '--exemplars', '2', '--out', net, '--cache', join(tmp, 'cache'), '--threads', '1', '--quiet']);
  assert.equal(b.status, 0, b.stderr);

  const n = await loadNetwork(net);
  const counts = Array.from(n.prototypeCounts);
  const diag = n.manifest.classes.map((c) => c.diagnostics as { prototypes: number; kSelection: { relErrors: number[]; reason: string } });
  assert.deepEqual(counts, diag.map((d) => d.prototypes), 'prototype_count agrees with the manifest');
  assert.equal(n.k, Math.max(...counts), 'k is the largest class k');
  assert.ok(new Set(counts).size > 1, `the classes chose different k (${counts})`);
  assert.equal((n.manifest.options as { kAuto: unknown }).kAuto !== null, true);
  const D = n.channels;
  for (let c = 0; c < n.numClasses; c++) {
    assert.equal(diag[c].kSelection.relErrors.length, 5);
    for (let j = 0; j < D; j++) {
      let sum = 0;
      for (let i = 0; i < n.k; i++) {
        const x = n.prototypes[(c * n.k + i) * D + j];
        if (i >= counts[c]) assert.equal(x, 0, `class ${c}: padded prototype ${i} is zero`);
        sum += x;
      }
      assert.ok(Math.abs(sum - n.headWeight[c * D + j]) <= 1e-5 * Math.max(1, Math.abs(n.headWeight[c * D + j])), `class ${c}, channel ${j}: sum = head`);
    }
    for (let i = counts[c]; i < n.k; i++) assert.equal(n.alpha[c * n.k + i], 0);
  }

  // Explain: each explanation lists the explained class's own prototypes; terms + bias = logit.
  const e = await protolens(['explain', '--net', net, '--data', ds.dir, '--out', join(tmp, 'expl')]);
  assert.equal(e.status, 0, e.stderr);
  const lines = readFileSync(join(tmp, 'expl', 'explanations.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length > 0);
  for (const l of lines) {
    const ex = l.explained as { index: number; logit: number; bias: number; prototypes: { contribution: number; exemplars: unknown[] }[] };
    assert.equal(ex.prototypes.length, counts[ex.index], `image ${l.image}`);
    const s = ex.prototypes.reduce((a, p) => a + p.contribution, ex.bias);
    assert.ok(Math.abs(s - ex.logit) <= 1e-4 * Math.max(1, Math.abs(ex.logit)), `image ${l.image}: ${s} vs ${ex.logit}`);
    for (const p of ex.prototypes) assert.ok(p.exemplars.length > 0, 'each real prototype has exemplars');
  }

  // Evaluate: consistency and stability count the real prototypes only.
  const v = await protolens(['evaluate', '--net', net, '--data', ds.dir, '--metrics', 'consistency,stability,distinctiveness', '--json']);
  assert.equal(v.status, 0, v.stderr);
  const parts = JSON.parse(v.stdout).metrics.parts;
  const total = counts.reduce((a, x) => a + x, 0);
  for (const set of ['refined', 'initial', 'random']) {
    const s = parts.sets[set];
    assert.equal(s.consistency.prototypes, total, set);
    assert.equal(s.consistency.perPrototype.length, total, set);
    for (let c = 0; c < n.numClasses; c++) assert.equal(s.consistency.perPrototype.filter((q: { class: number }) => q.class === c).length, counts[c]);
    assert.equal(s.stability.prototypes, total, set);
    assert.ok(Number.isFinite(s.distinctiveness.score), set);
  }

  // Export: the metadata names each class's count; the padded contributions are exactly 0.
  const onnx = join(tmp, 'explained.onnx');
  const x = await protolens(['export', '--net', net, '--out', onnx, '--heatmaps', 'none', '--json']);
  assert.equal(x.status, 0, x.stderr);
  const meta = JSON.parse(x.stdout).metadata as Record<string, string>;
  assert.deepEqual(JSON.parse(meta['protolens.prototype_counts']), counts);
  const session = await ort.InferenceSession.create(onnx);
  const input = new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i * 0.37));
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, 64, 64]) });
  const names = JSON.parse(meta['protolens.outputs']) as { contributions: string };
  const contrib = out[names.contributions].data as Float32Array;
  assert.equal(contrib.length, n.numClasses * n.k);
  for (let c = 0; c < n.numClasses; c++) for (let i = counts[c]; i < n.k; i++) assert.equal(contrib[c * n.k + i], 0, `class ${c}, padded prototype ${i}`);
  await session.release();

  // The static site: its data carries the counts, its gallery shows each class's own prototypes.
  const site = join(tmp, 'site');
  const w = await protolens(['site', '--net', net, '--out', site]);
  assert.equal(w.status, 0, w.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(site, 'site.json'), 'utf8')).prototypeCounts, counts);
  const page = readFileSync(join(site, 'index.html'), 'utf8');
  assert.equal(page.match(/class="proto"/g)?.length, total);
  assert.ok(page.includes(`${Math.min(...counts)}-${Math.max(...counts)} prototypes per class (k chosen per class)`), 'the header gives the range');
});

test('--k auto usage: a k that is neither an integer nor auto is a usage error naming --k', async () => {
  const r = await protolens(['build', '--model', DEFAULT_DEMO_MODEL, '--data', tmp, '--k', 'many']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--k: expected a positive integer or 'auto', got 'many'/);
});
