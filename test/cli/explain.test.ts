// `protolens explain` through the real CLI entry point, on the explain fixture (small real ONNX model,
// network folder with exemplars, PNG/JPEG images and an undecodable file).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ExplanationDocument } from '../../src/explain/schema.ts';
import { makeExplainFixture, type ExplainFixture } from '../explain/explain-fixture.ts';

let fx: ExplainFixture;
before(async () => {
  fx = await makeExplainFixture(await mkdtemp(join(tmpdir(), 'protolens-explain-cli-')));
});
after(async () => {
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'explain', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('--help lists the options; no --net or no image is a usage error', async () => {
  const r = await cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens explain --net NET_DIR IMAGE\.\.\./);
  for (const o of ['--class', '--top', '--out', '--json', '--model', '--threads']) assert.ok(r.stdout.includes(o), o);
  const none = await cli([fx.images[0]]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--net NET_DIR is required/);
});

test('--json: the documented schema, one entry per image in order, an undecodable image listed and exit 5', async () => {
  const list = [fx.images[2], fx.badImage, fx.images[0]];
  const r = await cli(['--net', fx.netDir, ...list, '--json', '--top', '3']);
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /image .*broken\.jpg: not a recognised image/);
  assert.match(r.stderr, /2 of 3 images explained; 1 failed: .*broken\.jpg/);
  const doc = JSON.parse(r.stdout) as ExplanationDocument;
  assert.equal(doc.schema, 'protolens.explanation');
  assert.equal(doc.version, 1);
  assert.equal(doc.network.k, 3);
  assert.equal(doc.network.classes, 10);
  assert.equal(doc.settings.top, 3);
  assert.equal(doc.settings.class, null);
  assert.equal(doc.out, null);
  assert.match(doc.model.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(doc.images.map((e) => [e.index, e.image, e.status]), [[0, list[0], 'ok'], [1, list[1], 'failed'], [2, list[2], 'ok']]);
  assert.deepEqual(doc.failures.map((f) => f.image), [fx.badImage]);
  assert.deepEqual(doc.summary, { images: 3, explained: 2, failed: 1 });
  for (const e of doc.images) {
    if (e.status !== 'ok') continue;
    assert.equal(e.classes.length, 3);
    assert.deepEqual(e.classes.map((c) => c.rank), [1, 2, 3]);
    assert.ok(e.classes[0].logit >= e.classes[1].logit && e.classes[1].logit >= e.classes[2].logit);
    assert.equal(e.predicted.index, e.classes[0].index);
    const x = e.explained;
    assert.equal(x.name, e.predicted.name);
    assert.equal(x.selectedBy, 'predicted');
    assert.equal(x.prototypes.length, 3);
    const total = x.prototypes.reduce((a, p) => a + p.contribution, 0) + x.bias;
    assert.ok(Math.abs(total - x.logit) <= 1e-4 * Math.max(1, Math.abs(x.logit)));
    for (const p of x.prototypes) {
      assert.ok(p.box && p.box.width >= 1 && p.box.height >= 1);
      assert.equal(p.exemplars.length, 2);
      assert.equal(p.overlay, undefined);
      assert.equal(p.heatmap, undefined);
    }
    assert.equal(e.pictures, undefined);
  }
});

test('--class with an unknown name exits 2 listing the closest names; a model with another hash exits 3', async () => {
  const r = await cli(['--net', fx.netDir, fx.images[0], '--class', 'horce']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--class: 'horce' is not one of the 10 classes of the network; closest names: 'horse'/);
  const m = await cli(['--net', fx.netDir, fx.images[0], '--model', fx.otherModelPath]);
  assert.equal(m.status, 3);
  assert.match(m.stderr, /other\.onnx' has SHA-256 [0-9a-f]{64}, but network .* was built from a model with SHA-256/);
  const bad = await cli(['--net', fx.netDir, fx.badImage]);
  assert.equal(bad.status, 3, 'no image could be explained');
});

test('--out with --class: text report, cards and pictures that decode, index.html', async () => {
  const out = join(fx.root, 'cli-out');
  const r = await cli(['--net', fx.netDir, fx.images[0], fx.images[1], '--class', 'cat', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\[1\/2\] .*img 0\.png/);
  assert.match(r.stdout, /explained: cat \(--class, rank \d+\)/);
  assert.match(r.stdout, /prototype 0 +[+-]\d+\.\d{4}/);
  assert.match(r.stdout, /card: 0001-img_1\/card\.html/);
  for (const dir of ['0000-img_0', '0001-img_1']) {
    const card = await readFile(join(out, dir, 'card.html'), 'utf8');
    assert.ok(card.includes('Why \u201ccat\u201d?'));
    for (const f of ['input.png', 'combined.png', 'prototype-0.png', 'prototype-1.png', 'prototype-2.png']) {
      assert.equal((await sharp(join(out, dir, f)).metadata()).format, 'png', `${dir}/${f}`);
    }
  }
  assert.ok((await stat(join(out, 'index.html'))).isFile());
  const doc = JSON.parse(await readFile(join(out, 'explanations.json'), 'utf8')) as ExplanationDocument;
  assert.equal(doc.settings.class, 'cat');
  assert.ok(doc.images.every((e) => e.status === 'ok' && e.explained.name === 'cat' && e.pictures?.card.endsWith('/card.html')));
});
