// `protolens build` through the real CLI entry point: help, JSON summary, warnings, exit codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetwork } from '../../src/network/artifact.ts';
import { CLASSES, TRAIN_PER_CLASS, corruptCopy, makeFixture, type Fixture } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-build-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fx: Fixture;
before(async () => {
  fx = await makeFixture(join(tmp, 'fx'));
});

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'build', ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const quick = ['--threads', '1', '--gradient-max-iter', '20'];

test('--help lists the options with their defaults and the exit codes, exit 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens build --model M\.onnx --data DIR/);
  for (const o of ['--model', '--data', '--out', '--format', '--split', '--k', '--max-images-per-class', '--input-size', '--normalize', '--preset', '--scaling', '--objective', '--allocator', '--norm', '--seed', '--nmf-solver', '--threads', '--cache', '--exemplars', '--strict', '--json', '--quiet']) {
    assert.ok(r.stdout.includes(o), o);
  }
  assert.match(r.stdout, /--k K\|auto\s+prototypes per class, or 'auto'.*\(default: 3\)/);
  assert.match(r.stdout, /--exemplars M\s+.*\(default: 5\)/);
  assert.match(r.stdout, /130 interrupted/);
  assert.ok(!r.stdout.includes('--layout '), 'layout follows the model');
});

test('--json prints the summary; skipped images are listed, warned about on stderr, and exit 0', async () => {
  const bad = fx.cub.images.find((im) => im.isTrain && im.classIndex === 3)!;
  const data = corruptCopy(fx, join(tmp, 'cub-bad'), [bad.id]);
  const out = join(tmp, 'net');
  const r = await cli(['--model', fx.model, '--data', data, '--out', out, '--k', '2', '--exemplars', '2', '--normalize', 'half', '--json', '--quiet', ...quick]);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.schema, 'protolens.build/1');
  assert.equal(s.network, out);
  assert.deepEqual([s.classes, s.k, s.images], [CLASSES, 2, CLASSES * TRAIN_PER_CLASS - 1]);
  assert.equal(s.failures.count, 1);
  assert.equal(s.failures.items[0].path, join(data, 'images', ...bad.name.split('/')));
  assert.ok(s.warnings.some((w: string) => /1 image was skipped/.test(w)));
  assert.deepEqual([s.extraction.classesExtracted, s.extraction.classesCached], [CLASSES, 0]);
  assert.equal(s.exemplars.perPrototype, 2);
  assert.equal(s.seed, 0);
  assert.equal(s.options.build.exemplars, 2);
  assert.ok(s.peakRssMB > 0);
  assert.match(r.stderr, /protolens build: warning: 1 image was skipped/);
  assert.doesNotMatch(r.stderr, /features:|prototypes:/, '--quiet: no progress');
  const net = await loadNetwork(out);
  assert.equal((net.manifest.preprocess as { normalize: string }).normalize, 'half');
  assert.equal(net.manifest.failures.length, 1);

  // the same build again: everything from the cache, plain progress lines on a non-terminal stderr
  const again = await cli(['--model', fx.model, '--data', data, '--out', out, '--k', '3', '--exemplars', '0', '--normalize', 'half', ...quick]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /extraction\s+0 classes extracted \(0 images\), 4 from the cache/);
  assert.match(again.stderr, /prototypes: 100% 4\/4 classes/);
  assert.equal((await loadNetwork(out)).k, 3);
});

test('exit codes: 2 for usage errors, 3 for a class-count mismatch and for --strict with a bad image', async () => {
  const missing = await cli(['--data', fx.cub.root]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--model M\.onnx is required/);
  const badOption = await cli(['--model', fx.model, '--data', fx.cub.root, '--allocator', 'magic']);
  assert.equal(badOption.status, 2);
  assert.match(badOption.stderr, /--allocator: expected one of uniform, nelder-mead, gradient, free, none, got 'magic'/);

  const five = await makeFixture(join(tmp, 'fx5'), { classes: 4, modelClasses: 5 });
  const mismatch = await cli(['--model', five.model, '--data', five.cub.root, '--out', join(tmp, 'net5'), ...quick]);
  assert.equal(mismatch.status, 3);
  assert.match(mismatch.stderr, /has 4 classes but model .* has 5 outputs/);
  assert.equal(existsSync(join(tmp, 'net5')), false);

  const bad = fx.cub.images.find((im) => im.isTrain && im.classIndex === 0)!;
  const data = corruptCopy(fx, join(tmp, 'cub-strict'), [bad.id]);
  const strict = await cli(['--model', fx.model, '--data', data, '--out', join(tmp, 'net-strict'), '--strict', '--quiet', ...quick]);
  assert.equal(strict.status, 3);
  assert.ok(strict.stderr.includes(join(data, 'images', ...bad.name.split('/'))), strict.stderr);
});
