// The model-randomisation sanity check on the demo's trained model and its dataset generator (fewer images):
// a network built on the model with its top convolutions redrawn scores lower than the real one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePartsDataset } from '../../src/data/synthetic/generate.ts';
import { readDemoModelRecord } from '../../src/demo/model-record.ts';
import { DEFAULT_DEMO_MODEL } from '../../src/demo/options.ts';
import { buildNetwork } from '../../src/builder/build.ts';
import { loadNetwork } from '../../src/network/artifact.ts';
import { randomisationCheck, type RandomisationReport } from '../../src/checks/randomisation.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-randomisation-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('randomising the last two convolutions of the demo model: the rebuilt prototypes score lower, the build options carried over', { timeout: 600_000 }, async () => {
  const record = await readDemoModelRecord(DEFAULT_DEMO_MODEL.replace(/\.onnx$/, '.json'));
  const ds = await generatePartsDataset({ dir: join(tmp, 'dataset'), ...record.datasetParams, trainPerClass: 12, testPerClass: 4 });
  const net = join(tmp, 'net');
  await buildNetwork({
    model: DEFAULT_DEMO_MODEL,
    data: ds.dir,
    out: net,
    cache: join(tmp, 'cache'),
    preprocess: { resize: 'stretch', cropToBox: true, interpolation: 'bilinear', normalize: 'half' },
    decompose: { k: 3 },
    exemplars: 0,
    threads: 1,
  });
  const out = join(tmp, 'sanity');
  const r = await randomisationCheck({ net, data: ds.dir, out, layers: 2, seed: 1, metrics: ['consistency', 'distinctiveness'], threads: 1 });
  assert.equal(r.model.layers.length, 2);
  // The cascade: the top convolution alone, then the top two; the same top layer in both; the deepest
  // step is the report's main result.
  assert.deepEqual(r.cascade.map((st) => st.depth), [1, 2]);
  assert.equal(r.cascade[0].layers.length, 1);
  assert.equal(r.cascade[0].layers[0].node, r.cascade[1].layers[0].node);
  assert.deepEqual(r.cascade[1].sets, r.sets);
  assert.ok(existsSync(join(out, 'evaluation-randomised-L1', 'evaluation.json')) && existsSync(join(out, 'network-randomised-L1', 'manifest.json')));
  for (const st of r.cascade) assert.ok(st.sets.refined!.consistency!.randomised! < st.sets.refined!.consistency!.original!, `depth ${st.depth}`);
  assert.deepEqual(r.metrics, ['consistency', 'distinctiveness']);
  const refined = r.sets.refined!;
  assert.ok(refined.consistency!.randomised! < refined.consistency!.original!, JSON.stringify(refined));
  // The rebuilt network was made with the original's options: same k, preprocessing, decomposition.
  const a = (await loadNetwork(net)).manifest;
  const b = (await loadNetwork(r.outputs.network)).manifest;
  assert.equal(b.k, a.k);
  assert.deepEqual(b.preprocess, a.preprocess);
  const { build: _x, ...oa } = a.options as Record<string, unknown>;
  const { build: _y, ...ob } = b.options as Record<string, unknown>;
  assert.deepEqual(ob, oa);
  assert.notEqual(b.model.sha256, a.model.sha256, 'built on the randomised model');
  // Files: the report in JSON and markdown, both evaluations.
  const onDisk = JSON.parse(readFileSync(join(out, 'randomisation.json'), 'utf8')) as RandomisationReport;
  assert.deepEqual(onDisk.sets, r.sets);
  const md = readFileSync(join(out, 'randomisation.md'), 'utf8');
  assert.match(md, /\| consistency \| [\d.]+ \| [\d.]+ \|/);
  assert.match(md, /## cascade: refined prototypes/);
  assert.match(md, /\| 1 \(Conv 'block5_conv'\) \| [\d.]+ \| [\d.]+ \|/);
  for (const d of ['evaluation-original', 'evaluation-randomised']) assert.ok(existsSync(join(out, d, 'evaluation.json')));

  // An evaluation already made stands in for the original side only if it is this network's and ran the metrics.
  const made = JSON.parse(readFileSync(join(out, 'evaluation-original', 'evaluation.json'), 'utf8'));
  await assert.rejects(randomisationCheck({ net: r.outputs.network, data: ds.dir, out: join(tmp, 'sanity-2'), original: { report: made, dir: join(out, 'evaluation-original') } }), /is of network .* not /);
  await assert.rejects(randomisationCheck({ net, data: ds.dir, out: join(tmp, 'sanity-3'), metrics: ['consistency', 'purity'], original: { report: made, dir: join(out, 'evaluation-original') } }), /did not run purity/);

  // The viewer shows the check's scores (view --sanity); a report of another network is refused.
  const { startViewer } = await import('../../src/viewer/server.ts');
  const v = await startViewer({ net, port: 0, sanity: out });
  try {
    const html = await (await fetch(v.url)).text();
    const section = html.slice(html.indexOf('<section id="sanity">'));
    const c = refined.consistency!;
    assert.ok(section.includes(`<tr><th scope="row">refined (the network)</th><td>consistency</td><td class="num">${c.original!.toFixed(1)}</td><td class="num">${c.randomised!.toFixed(1)}</td></tr>`), section.slice(0, 2000));
    assert.ok(section.includes('block5_conv'), 'names the redrawn layers');
  } finally {
    await v.close();
  }
  await assert.rejects(startViewer({ net: r.outputs.network, port: 0, sanity: out }), /checks network .* not /);
  await assert.rejects(startViewer({ net, port: 0, sanity: join(tmp, 'nothing') }), /sanity check .*nothing: not found/);
});

test('CLI: protolens sanity usage errors exit 2 naming the option', async () => {
  const { protolens } = await import('../helpers/cli.ts');
  const noNet = await protolens(['sanity', '--data', tmp, '--out', join(tmp, 'x')]);
  assert.equal(noNet.status, 2);
  assert.match(noNet.stderr, /--net is required/);
  const badMetric = await protolens(['sanity', '--net', tmp, '--data', tmp, '--out', join(tmp, 'x'), '--metrics', 'consistency,speed']);
  assert.equal(badMetric.status, 2);
  assert.match(badMetric.stderr, /--metrics: unknown 'speed'/);
  const help = await protolens(['sanity', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Adebayo et al\. \(2018\)/);
});
