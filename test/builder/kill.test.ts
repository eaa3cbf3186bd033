// A build killed (SIGKILL, no chance to clean up) at moments spread over its whole run, replacing an
// existing network: every time, the folder then opens as the old network or the new one, and the
// rerun succeeds. Real processes through the CLI entry point.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetwork } from '../../src/network/artifact.ts';
import { makeFixture, type Fixture } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-build-kill-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fx: Fixture;
before(async () => {
  fx = await makeFixture(join(tmp, 'fx'));
});

/** Run a build; kill it after `killAfterMs` (null: let it finish). Resolves with the exit status or signal and the run time. */
function build(out: string, k: number, killAfterMs: number | null): Promise<{ status: number | null; signal: NodeJS.Signals | null; ms: number; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const args = ['bin/protolens.js', 'build', '--model', fx.model, '--data', fx.cub.root, '--out', out, '--k', String(k), '--threads', '1', '--exemplars', '5', '--quiet'];
    const p = spawn(process.execPath, args);
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const timer = killAfterMs === null ? null : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, ms: performance.now() - t0, stderr });
    });
  });
}

test('a build killed at any moment while replacing a network leaves the old or the new network, and the rerun succeeds', { timeout: 240_000 }, async () => {
  const out = join(tmp, 'net');
  const full = await build(out, 2, null);
  assert.equal(full.status, 0, full.stderr);
  const seen = new Set<number>();
  // Kill times spread from start-up to past the end of a whole run (the cache is warm after the first).
  const warm = await build(out, 3, null);
  assert.equal(warm.status, 0, warm.stderr);
  const runs = 6;
  for (let i = 0; i < runs; i++) {
    const target = i % 2 === 0 ? 2 : 3;
    const before = (await loadNetwork(out)).k;
    const r = await build(out, target, Math.round((warm.ms * (0.35 + (0.8 * i) / runs))));
    const k = (await loadNetwork(out)).k; // finishes a publish the kill interrupted
    assert.ok(k === before || k === target, `run ${i}: k ${k}, expected ${before} (old) or ${target} (new)`);
    seen.add(r.signal === 'SIGKILL' ? (k === target ? 1 : 0) : 2);
    const rerun = await build(out, target, null);
    assert.equal(rerun.status, 0, `run ${i}: rerun failed: ${rerun.stderr}`);
    assert.equal((await loadNetwork(out)).k, target);
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], `run ${i}: nothing left behind after the rerun`);
  }
  assert.ok(seen.has(0), 'some kills landed before the new network was committed');
});
