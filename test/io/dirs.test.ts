import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { makeDirs } from '../../src/io/dirs.ts';
import { HOST_TAG, removeStaleTemporaries, STALE_FOREIGN_TMP_MS, temporaryPath, writeFileAtomic } from '../../src/io/atomic.ts';
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

test('atomic writes leave no temporary file on failure; temporaries of dead processes are removed, live ones kept; another host\'s only when a day old', async () => {
  const root = await mkdtemp(join(tmpdir(), 'atomic-'));
  await makeDirs(join(root, 'target-is-a-folder'));
  await assert.rejects(writeFileAtomic(join(root, 'target-is-a-folder'), 'x'));
  assert.deepEqual((await readdir(root)).filter((f) => f.endsWith('.tmp')), [], 'the failed rename left nothing');
  const dead = `.class-00001.safetensors.${2 ** 22 + 12345}.0badf00d.tmp`; // no such process id (name without host tag: this host)
  const deadHere = `.class-00004.safetensors.${2 ** 22 + 12345}.0badf00d.${HOST_TAG}.tmp`;
  const live = `.class-00002.safetensors.${process.pid}.0badf00d.tmp`;
  const otherTag = HOST_TAG === '00000000' ? '11111111' : '00000000';
  // Another machine sharing the folder: its pid cannot be checked from here, so only age counts.
  const elsewhere = `.class-00005.safetensors.${2 ** 22 + 12345}.0badf00d.${otherTag}.tmp`;
  const elsewhereOld = `.class-00006.safetensors.${2 ** 22 + 12345}.0badf00d.${otherTag}.tmp`;
  for (const f of [dead, deadHere, live, elsewhere, elsewhereOld, 'class-00003.safetensors']) await writeFile(join(root, f), 'x');
  const old = new Date(Date.now() - STALE_FOREIGN_TMP_MS - 60_000);
  await utimes(join(root, elsewhereOld), old, old);
  assert.equal(await removeStaleTemporaries(root), 3);
  assert.deepEqual((await readdir(root)).sort(), [live, elsewhere, 'class-00003.safetensors', 'target-is-a-folder'].sort());
  // Writes name their temporaries with this process and host, in the folder of the target.
  const t = temporaryPath(join(root, 'x.json'));
  assert.equal(dirname(t), root);
  assert.match(basename(t), new RegExp(`^\\.x\\.json\\.${process.pid}\\.[0-9a-f]{8}\\.${HOST_TAG}\\.tmp$`));
});
