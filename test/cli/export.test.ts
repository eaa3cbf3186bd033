// `protolens export` through the real CLI entry point, on the explain fixture (small real ONNX model
// and network folders): help, required options, text and JSON output, exit codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ExportResult } from '../../src/export/onnx-export.ts';
import { makeExplainFixture, type ExplainFixture } from '../explain/explain-fixture.ts';

let fx: ExplainFixture;
before(async () => {
  fx = await makeExplainFixture(await mkdtemp(join(tmpdir(), 'protolens-export-cli-')));
});
after(async () => {
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'export', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('--help lists the options and exit codes; missing --net / --out and a bad --heatmaps are usage errors (2)', async () => {
  const r = await cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens export --net NET_DIR --out FILE\.onnx/);
  for (const o of ['--net', '--out', '--model', '--heatmaps', '--json', '--threads']) assert.ok(r.stdout.includes(o), o);
  assert.match(r.stdout, /Exit codes: 0 written/);
  const noNet = await cli(['--out', join(fx.root, 'a.onnx')]);
  assert.equal(noNet.status, 2);
  assert.match(noNet.stderr, /--net NET_DIR is required/);
  const noOut = await cli(['--net', fx.netDir]);
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /--out FILE\.onnx is required/);
  const bad = await cli(['--net', fx.netDir, '--out', join(fx.root, 'a.onnx'), '--heatmaps', 'some']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--heatmaps: expected one of all, top, none, got 'some'/);
  await assert.rejects(stat(join(fx.root, 'a.onnx')));
});

test('--json: the written file, its SHA-256, outputs with shapes and the check; the file runs in onnxruntime', async () => {
  const out = join(fx.root, 'top.onnx');
  const r = await cli(['--net', fx.netDir, '--out', out, '--heatmaps', 'top', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as ExportResult;
  assert.equal(doc.path, out);
  assert.equal(doc.heatmaps, 'top');
  assert.equal(doc.k, 3);
  assert.equal(doc.numClasses, 10);
  assert.equal(doc.sha256, createHash('sha256').update(await readFile(out)).digest('hex'));
  assert.deepEqual(Object.fromEntries(doc.outputs.map((o) => [o.name, o.shape])), {
    logits: ['N', 10],
    contributions: ['N', 10, 3],
    bias: [10],
    explained_class: ['N'],
    heatmaps: ['N', 3, 'H', 'W'],
  });
  assert.ok(doc.check.completenessRelError <= 1e-4);
  const s = await ort.InferenceSession.create(out);
  try {
    for (const name of ['logits', 'contributions', 'bias', 'explained_class', 'heatmaps']) assert.ok(s.outputNames.includes(name), name);
  } finally {
    await s.release();
  }
});

test('text report; a model with another SHA-256 exits 3 and writes nothing; a missing network exits 3', async () => {
  const out = join(fx.root, 'all.onnx');
  const r = await cli(['--net', fx.residualNetDir, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*all\.onnx/);
  assert.match(r.stdout, /residual_contribution +float32 \[N, 10\]/);
  assert.match(r.stdout, /heatmaps +float32 \[N, 10, 3, H, W\]/);
  const other = join(fx.root, 'other-out.onnx');
  const m = await cli(['--net', fx.netDir, '--out', other, '--model', fx.otherModelPath]);
  assert.equal(m.status, 3);
  assert.match(m.stderr, /has SHA-256 [0-9a-f]{64}, but network .* was built from a model with SHA-256/);
  await assert.rejects(stat(other));
  const none = await cli(['--net', join(fx.root, 'no-such-net'), '--out', other]);
  assert.equal(none.status, 3);
  assert.match(none.stderr, /not a protolens network folder/);
});
