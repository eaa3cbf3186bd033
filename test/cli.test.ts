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

test('the registry names each command as its module does, and --version is package.json\'s', async () => {
  const { commands } = await import('../src/cli/commands.ts');
  for (const entry of commands) {
    const cmd = await entry.load();
    assert.equal(cmd.spec.name, entry.name);
    assert.equal(cmd.spec.summary, entry.summary, `summary of ${entry.name}`);
  }
  const { readFileSync } = await import('node:fs');
  const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
  assert.equal(cli(['--version']).stdout.trim(), version);
});
