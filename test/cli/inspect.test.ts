// `protolens inspect` through the real CLI entry point.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { buildHeadModel } from '../helpers/head-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'protolens-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'inspect', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const resnet = join(dir, 'resnet.onnx');
writeFileSync(resnet, buildResNetLike({ seed: 4, dynamicSpatial: true }).model);

test('--help prints usage and options, exit 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens inspect MODEL/);
  for (const o of ['--input-size', '--json', '--logits-output', '--tolerance']) assert.ok(r.stdout.includes(o), o);
});

test('--json prints the documented summary: hash, head, features at the requested size, passed check', async () => {
  const r = await cli([resnet, '--input-size', '40x24', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.schema, 'protolens.inspect/1');
  assert.equal(s.model.sha256, createHash('sha256').update(readFileSync(resnet)).digest('hex'));
  assert.equal(s.head.pooling.op, 'GlobalAveragePool');
  assert.equal(s.head.linear.op, 'Gemm');
  assert.equal(s.head.numClasses, 10);
  assert.deepEqual([s.features.H, s.features.W, s.features.D], [10, 6, 16]);
  assert.equal(s.features.nonNegative, true);
  assert.deepEqual([s.input.height, s.input.width, s.input.sizeSource], [40, 24, 'option']);
  assert.ok(s.check.relError <= 1e-4 && s.check.relError >= 0);
  assert.equal(s.check.seed, 0);
});

test('the text report names pooling, folded ops, feature shape, non-negativity and the check error', async () => {
  const m = join(dir, 'folded.onnx');
  writeFileSync(m, buildHeadModel({ layout: 'NTD', inputSize: [4, 4], keepdims: 0, between: [{ op: 'BatchNormalization' }], activation: 'none' }).model);
  const r = await cli([m]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pooling\s+ReduceMean 'pool' \(axes \[1\] from attribute, keepdims 0\)/);
  assert.match(r.stdout, /folded ops\s+BatchNormalization '[^']+' \(per-channel, before-linear\)/);
  assert.match(r.stdout, /features\s+'tokens_last_out' NTD -> 4 x 4 x 6 \(HW 16, D 6\); 16 tokens shown as 4 x 4 \(T is a perfect square\)/);
  assert.match(r.stdout, /non-negative\s+not by construction/);
  assert.match(r.stdout, /logit check\s+relative error \d\.\d+e-\d+ .*passed/);
});

test('an unreadable model exits 3 naming the file; a failed check exits 4; bad options exit 2', async () => {
  const bad = join(dir, 'bad.onnx');
  writeFileSync(bad, 'not onnx at all');
  const r3 = await cli([bad]);
  assert.equal(r3.status, 3);
  assert.match(r3.stderr, /protolens inspect: '.*bad\.onnx' is not a readable ONNX model/);
  const r4 = await cli([resnet, '--input-size', '32', '--tolerance', '1e-15']);
  assert.equal(r4.status, 4);
  assert.match(r4.stderr, /does not reproduce the logits/);
  const r2 = await cli([resnet, '--input-size', 'big']);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /--input-size: expected a positive integer S or HxW, got 'big'/);
  assert.equal((await cli([])).status, 2);
});

test('several heads exit 3 listing them; --logits-output picks one', async () => {
  const w = (name: string, dims: number[]) => tensor(name, dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i + dims.length)));
  const m = join(dir, 'two-heads.onnx');
  writeFileSync(
    m,
    buildModel({
      nodes: [
        node('Conv', ['input', 'cw'], ['c'], { kernel_shape: [1, 1] }, 'conv'),
        node('GlobalAveragePool', ['c'], ['p'], {}, 'gap'),
        node('Flatten', ['p'], ['f'], {}, 'flat'),
        node('Gemm', ['f', 'wa'], ['species'], { transB: 1 }, 'fc_species'),
        node('Gemm', ['f', 'wb'], ['colour'], { transB: 1 }, 'fc_colour'),
      ],
      inputs: [valueInfo('input', ['N', 3, 4, 4])],
      outputs: [valueInfo('species', null), valueInfo('colour', null)],
      initializers: [w('cw', [5, 3, 1, 1]), w('wa', [7, 5]), w('wb', [2, 5])],
    }),
  );
  const r = await cli([m]);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /several candidate GAP \+ linear heads/);
  assert.match(r.stderr, /Gemm 'fc_species'/);
  assert.match(r.stderr, /Gemm 'fc_colour'/);
  const ok = await cli([m, '--logits-output', 'colour', '--json']);
  assert.equal(ok.status, 0, ok.stderr);
  const s = JSON.parse(ok.stdout);
  assert.equal(s.head.linear.node, 'fc_colour');
  assert.equal(s.head.numClasses, 2);
  assert.equal(s.features.nonNegative, false);
});
