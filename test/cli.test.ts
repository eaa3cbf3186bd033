import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/protolens.js', ...args], { encoding: 'utf8' });

test('protolens --help lists commands and exits 0', () => {
  const r = cli(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: protolens <command>/);
});

test('an unknown command is a usage error (exit 2) naming the command', () => {
  const r = cli(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});
