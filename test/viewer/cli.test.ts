// `protolens view` through the real entry point: prints its URL, serves, stops cleanly on SIGINT;
// usage and input errors exit with their codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLASS_NAMES, type ExplainFixture } from '../explain/explain-fixture.ts';
import { makeViewerFixture } from './viewer-fixture.ts';

let root: string;
let fx: ExplainFixture;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-viewer-cli-'));
  fx = await makeViewerFixture(root);
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('serves at the printed URL and exits 0 on SIGINT, removing its temporary results folder', async () => {
  const p = spawn(process.execPath, ['bin/protolens.js', 'view', '--net', fx.netDir, '--port', '0']);
  let stdout = '', stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((ok) => p.on('close', (code) => ok(code)));
  const url = await new Promise<string>((ok, fail) => {
    p.stdout.on('data', (d) => {
      stdout += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)\nuploads and results: (.+)\n/.exec(stdout);
      if (m) ok(m[1]);
    });
    p.on('close', () => fail(new Error(`view exited early: ${stderr}`)));
  });
  try {
    const classes = (await (await fetch(new URL('api/classes', url))).json()) as { name: string }[];
    assert.deepEqual(classes.map((c) => c.name), CLASS_NAMES);
  } finally {
    p.kill('SIGINT');
  }
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /SIGINT, stopping/);
  await assert.rejects(fetch(url));
  const results = /uploads and results: (.+)\n/.exec(stdout)![1];
  await assert.rejects(access(results), 'the temporary results folder is removed');
});

test('usage and input errors', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['bin/protolens.js', 'view', ...args], { encoding: 'utf8' });
  const none = cli([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /--net NET_DIR is required/);
  const port = cli(['--net', fx.netDir, '--port', '70000']);
  assert.equal(port.status, 2);
  assert.match(port.stderr, /--port/);
  const missing = cli(['--net', join(root, 'nowhere')]);
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /nowhere/);
  const help = cli(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /POST \/api\/explain/);
});

test('--host beyond loopback is served with a warning on stderr; the default host has none', async () => {
  const run = (args: string[]) =>
    new Promise<{ stderr: string; code: number | null }>((ok, fail) => {
      const p = spawn(process.execPath, ['bin/protolens.js', 'view', '--net', fx.netDir, '--port', '0', ...args]);
      let stdout = '';
      let stderr = '';
      p.stderr.on('data', (d) => (stderr += d));
      p.stdout.on('data', (d) => {
        stdout += d;
        if (/\(Ctrl-C to stop\)/.test(stdout)) p.kill('SIGINT');
      });
      p.on('close', (code) => ok({ stderr, code }));
      setTimeout(() => fail(new Error(`view did not start: ${stderr}`)), 30_000).unref();
    });
  const open = await run(['--host', '0.0.0.0']);
  assert.equal(open.code, 0, open.stderr);
  assert.match(open.stderr, /warning: --host 0\.0\.0\.0 serves the network, its model's explanations and any --data folder to every machine that can reach this one/);
  const local = await run([]);
  assert.equal(local.code, 0, local.stderr);
  assert.doesNotMatch(local.stderr, /warning/);
});
