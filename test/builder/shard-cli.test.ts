// Sharding through the real CLI: `build --shard`, its errors and exit codes, SIGTERM, and `protolens status`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFixture, type Fixture } from './fixtures.ts';
import { protolens } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-shard-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fx: Fixture;
before(async () => {
  fx = await makeFixture(join(tmp, 'fx'), { classes: 5 });
});

const base = (cache: string, out: string) => ['build', '--model', fx.model, '--data', fx.cub.root, '--out', out, '--cache', cache, '--k', '2', '--exemplars', '1', '--threads', '1', '--gradient-max-iter', '20'];

test('--shard: usage errors exit 2 naming the option or variable', async () => {
  const b = base(join(tmp, 'c0'), join(tmp, 'n0'));
  for (const [args, env, re] of [
    [['--shard', '2/2'], {}, /--shard 2\/2: shard index 2 is outside 0\.\.1/],
    [['--shard', 'two'], {}, /--shard: expected I\/N/],
    [['--shards', '3'], {}, /--shards N is used with --shard auto/],
    [['--shard', 'auto'], {}, /neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set/],
    [['--shard', 'auto'], { JOB_COMPLETION_INDEX: '1' }, /pass --shards N/],
    [['--shard', '0/2', '--complete'], {}, /--complete is for the final run without --shard/],
  ] as [string[], NodeJS.ProcessEnv, RegExp][]) {
    const r = await protolens([...b, ...args], env);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.equal(existsSync(join(tmp, 'c0')), false, 'nothing written');
});

test('two shards from the environment (Kubernetes index, Slurm task), a missing-shard error with exit 3, then assembly and status', async () => {
  const cache = join(tmp, 'c1');
  const out = join(tmp, 'n1');
  const s0 = await protolens([...base(cache, out), '--shard', 'auto', '--shards', '3', '--json', '--quiet'], { JOB_COMPLETION_INDEX: '0', HOSTNAME: 'pod-0' });
  assert.equal(s0.status, 0, s0.stderr);
  const j0 = JSON.parse(s0.stdout);
  assert.equal(j0.schema, 'protolens.build-shard/1');
  assert.deepEqual(j0.shard, { index: 0, count: 3, source: 'kubernetes' });
  assert.equal(existsSync(out), false, 'a shard writes no network');
  const s2 = await protolens([...base(cache, out), '--shard', 'auto'], { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_MAX: '12', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_JOB_ID: '77' });
  assert.equal(s2.status, 0, s2.stderr);
  assert.match(s2.stdout, /shard\s+2\/3 \(slurm\): \d+ classes/);
  assert.match(s2.stdout, /network\s+not written by a shard/);

  const missing = await protolens([...base(cache, out)]);
  assert.equal(missing.status, 3, missing.stderr);
  assert.match(missing.stderr, /lacks \d+ of 5 classes: .*\(shard 1\/3\)/);
  assert.match(missing.stderr, /1\/3 never started/);
  assert.equal(existsSync(out), false);

  const st = await protolens(['status', '--cache', cache]);
  assert.equal(st.status, 0, st.stderr);
  assert.match(st.stdout, /features of \d \/ 5 classes/);
  assert.match(st.stdout, /3 shards: 2 done/);
  assert.match(st.stdout, /shard 0\/3 done on \S+ \(pid \d+, pod pod-0\)/);
  assert.match(st.stdout, /shard 1\/3 pending/);
  assert.match(st.stdout, /shard 2\/3 done on \S+ \(pid \d+, slurm 77_12\)/);

  const s1 = await protolens([...base(cache, out), '--shard', '1/3', '--quiet']);
  assert.equal(s1.status, 0, s1.stderr);
  const asm = await protolens([...base(cache, out), '--json', '--quiet']);
  assert.equal(asm.status, 0, asm.stderr);
  const a = JSON.parse(asm.stdout);
  assert.equal(a.assembled, true);
  assert.deepEqual([a.extraction.classesExtracted, a.decomposition.classesComputed, a.decomposition.classesFromCache], [0, 0, 5]);
  assert.ok(existsSync(join(out, 'manifest.json')));
  const text = await protolens([...base(cache, out)]);
  assert.match(text.stdout, /assembled\s+from cached results only/);
  const js = JSON.parse((await protolens(['status', '--cache', cache, '--json'])).stdout);
  assert.deepEqual(js.caches[0].results[0].plans[0].shards.map((s: { state: string }) => s.state), ['done', 'done', 'done']);
});

test('SIGTERM stops a shard with exit 143 and records it as failed; the rerun resumes; status errors exit 2 and 3', async () => {
  const cache = join(tmp, 'c2');
  const out = join(tmp, 'n2');
  const recordDir = () => {
    if (!existsSync(cache)) return null;
    const key = readdirSync(cache).find((d) => existsSync(join(cache, d, 'results')));
    if (!key) return null;
    const res = readdirSync(join(cache, key, 'results'))[0];
    return res ? join(cache, key, 'results', res, 'shards-1') : null;
  };
  let poll: NodeJS.Timeout | undefined;
  const r = await protolens([...base(cache, out), '--shard', '0/1', '--max-images-per-class', '6'], {}, (kill) => {
    poll = setInterval(() => {
      const dir = recordDir();
      if (dir && existsSync(join(dir, '0.json'))) {
        clearInterval(poll);
        kill('SIGTERM');
      }
    }, 20);
  }).finally(() => clearInterval(poll));
  assert.equal(r.status, 143, r.stderr);
  assert.match(r.stderr, /interrupted \(SIGTERM\); finished classes are cached/);
  const rec = JSON.parse(readFileSync(join(recordDir()!, '0.json'), 'utf8'));
  assert.equal(rec.state, 'failed');
  assert.match(rec.error, /SIGTERM/);
  assert.match((await protolens(['status', '--cache', cache])).stdout, /shard 0\/1 failed on .*SIGTERM/);
  const again = await protolens([...base(cache, out), '--shard', '0/1', '--max-images-per-class', '6', '--json', '--quiet']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).classes.length, 5);

  const noCache = await protolens(['status']);
  assert.equal(noCache.status, 2);
  assert.match(noCache.stderr, /--cache DIR is required/);
  const absent = await protolens(['status', '--cache', join(tmp, 'no-such-cache')]);
  assert.equal(absent.status, 3);
  assert.match(absent.stderr, /no-such-cache: cannot be read \(ENOENT\)/);
});
