import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { makeDirs } from '../../src/io/dirs.ts';
import { removeStaleTemporaries, writeFileAtomic } from '../../src/io/atomic.ts';
import { InputError } from '../../src/util/errors.ts';

test('makeDirs creates missing parents, accepts an existing folder, and names a parent that is a file', async () => {
  const root = await mkdtemp(join(tmpdir(), 'dirs-'));
  await makeDirs(join(root, 'a', 'b', 'c'));
  assert.ok((await stat(join(root, 'a', 'b', 'c'))).isDirectory());
  await makeDirs(join(root, 'a', 'b'));
  await writeFile(join(root, 'file'), 'x');
  await assert.rejects(makeDirs(join(root, 'file', 'net')), (e) => e instanceof InputError && /file is a file, not a folder/.test((e as Error).message));
});

test('a folder under /proc fails at once with the reason (Node\'s recursive mkdir never returns there)', async () => {
  const t0 = performance.now();
  await assert.rejects(makeDirs('/proc/protolens-x/net'), (e) => e instanceof InputError && /cannot create folder \/proc\/protolens-x \(ENOENT\)/.test((e as Error).message));
  assert.ok(performance.now() - t0 < 2000);
});

test('the CLI: build --out /proc/x exits 3 with the reason instead of hanging', async () => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['bin/protolens.js', 'build', '--model', 'models/demo-cnn.onnx', '--data', 'test', '--out', '/proc/protolens-x']);
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /\/proc\/protolens-x/);
});

test('atomic writes leave no temporary file on failure; temporaries of dead processes are removed, live ones kept', async () => {
  const root = await mkdtemp(join(tmpdir(), 'atomic-'));
  await makeDirs(join(root, 'target-is-a-folder'));
  await assert.rejects(writeFileAtomic(join(root, 'target-is-a-folder'), 'x'));
  assert.deepEqual((await readdir(root)).filter((f) => f.endsWith('.tmp')), [], 'the failed rename left nothing');
  const dead = `.class-00001.safetensors.${2 ** 22 + 12345}.0badf00d.tmp`; // no such process id
  const live = `.class-00002.safetensors.${process.pid}.0badf00d.tmp`;
  for (const f of [dead, live, 'class-00003.safetensors']) await writeFile(join(root, f), 'x');
  assert.equal(await removeStaleTemporaries(root), 1);
  assert.deepEqual((await readdir(root)).sort(), [live, 'class-00003.safetensors', 'target-is-a-folder'].sort());
});
