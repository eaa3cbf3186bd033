// Sharded builds through the library: the plan, shards filling one cache, assembly equal byte for byte
// to a single-machine build, missing shards named, a failed shard resumed, shards racing on a class.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildNetwork, buildShard, type BuildResult } from '../../src/builder/build.ts';
import type { BuildOptions } from '../../src/builder/options.ts';
import { parseShard, planShards, readShardRecords, type ShardSpec } from '../../src/builder/shards.ts';
import { cacheStatus, formatCacheStatus } from '../../src/builder/status.ts';
import { InputError, UsageError } from '../../src/util/errors.ts';
import { makeFixture, type Fixture } from './fixtures.ts';
import { treeFiles } from '../helpers/tree-files.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-shards-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const CLASSES = 6;
let fx: Fixture;
let single: BuildResult;
const opts = (out: string, cache: string): BuildOptions => ({
  model: fx.model,
  data: fx.cub.root,
  out,
  cache,
  threads: 1,
  exemplars: 2,
  decompose: { k: 2, gradient: { maxIterations: 30 } },
});
const shard = (index: number, count: number): ShardSpec => ({ index, count, source: 'option' });


function assertSameNetwork(a: string, b: string): void {
  const fa = treeFiles(a);
  const fb = treeFiles(b);
  assert.deepEqual([...fb.keys()].sort(), [...fa.keys()].sort());
  assert.ok(fa.has('prototypes.safetensors') && fa.has('manifest.json') && fa.has(join('exemplars', 'index.json')));
  for (const [name, bytes] of fa) assert.ok(bytes.equals(fb.get(name)!), `${name} differs`);
}

before(async () => {
  fx = await makeFixture(join(tmp, 'fx'), { classes: CLASSES });
  single = await buildNetwork(opts(join(tmp, 'single', 'net'), join(tmp, 'single', 'cache')));
});

test('parseShard: I/N, auto from a Slurm array (offset by its first index) or a Kubernetes Indexed Job; errors name the option or variable', () => {
  assert.deepEqual(parseShard('2/4', undefined, {}), { index: 2, count: 4, source: 'option' });
  assert.deepEqual(parseShard('auto', undefined, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' }), { index: 3, count: 4, source: 'slurm' });
  assert.deepEqual(parseShard('auto', undefined, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '2', SLURM_ARRAY_TASK_MAX: '5' }), { index: 3, count: 4, source: 'slurm' });
  assert.deepEqual(parseShard('auto', 8, { JOB_COMPLETION_INDEX: '7' }), { index: 7, count: 8, source: 'kubernetes' });
  assert.throws(() => parseShard('4/4', undefined, {}), (e: Error) => e instanceof UsageError && /shard index 4 is outside 0\.\.3/.test(e.message));
  assert.throws(() => parseShard('1-4', undefined, {}), (e: Error) => e instanceof UsageError && /expected I\/N/.test(e.message));
  assert.throws(() => parseShard('auto', undefined, { JOB_COMPLETION_INDEX: '1' }), (e: Error) => e instanceof UsageError && /--shards N/.test(e.message));
  assert.throws(() => parseShard('auto', undefined, {}), (e: Error) => e instanceof UsageError && /SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX/.test(e.message));
  assert.throws(() => parseShard('auto', undefined, { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '2', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '4' }), /contiguous array/);
  assert.throws(() => parseShard('1/4', 3, {}), /contradicts/);
});

test('planShards: largest classes first to the least-loaded shard (hand-computed), every class once, loads within one class of each other', () => {
  // order 0 (5), 2 (4), 4 (3), 3 (2), 1 (1): 0 -> s0 (5), 2 -> s1 (4), 4 -> s1 (7), 3 -> s0 (7), 1 -> s0 (tie, lower shard; 8)
  assert.deepEqual(planShards([5, 1, 4, 2, 3], 2), [0, 0, 1, 0, 1]);
  const sizes = Array.from({ length: 200 }, (_, c) => 20 + ((c * 37) % 41));
  const plan = planShards(sizes, 7);
  assert.equal(plan.length, 200);
  const load = new Array(7).fill(0);
  plan.forEach((s, c) => (load[s] += sizes[c]));
  assert.ok(Math.max(...load) - Math.min(...load) <= Math.max(...sizes), `loads ${load}`);
  assert.deepEqual(planShards(sizes, 7), plan, 'deterministic');
});

test('three shards then assembly: nothing extracted or decomposed at assembly, and the network equals the single build byte for byte', async () => {
  const cache = join(tmp, 'sharded', 'cache');
  const out = join(tmp, 'sharded', 'net');
  const owned: number[][] = [];
  for (let i = 0; i < 3; i++) {
    const r = await buildShard({ ...opts(out, cache), shard: shard(i, 3) });
    owned.push(r.classes);
    assert.equal(r.decomposition.classesComputed, r.classes.length);
    assert.equal(r.extraction.classesExtracted, r.classes.length);
  }
  assert.deepEqual(owned.flat().sort(), [0, 1, 2, 3, 4, 5], 'each class in exactly one shard');
  assert.throws(() => statSync(out), 'a shard writes no network');
  const a = await buildNetwork(opts(out, cache));
  assert.equal(a.assembled, true);
  assert.deepEqual([a.extraction.classesExtracted, a.decomposition.classesComputed, a.decomposition.classesFromCache], [0, 0, CLASSES]);
  assert.equal(single.assembled, false);
  assert.deepEqual([single.decomposition.classesComputed, single.decomposition.classesFromCache], [CLASSES, 0]);
  assertSameNetwork(single.dir, out);

  const st = await cacheStatus(cache);
  assert.equal(st.caches.length, 1);
  assert.equal(st.caches[0].classesWithFeatures, CLASSES);
  assert.equal(st.caches[0].results[0].classesWithResults, CLASSES);
  assert.deepEqual(st.caches[0].results[0].plans[0].shards.map((s) => [s.state, s.classesWithResults]), owned.map((o) => ['done', o.length]));
  assert.match(formatCacheStatus(st), /3 shards: 3 done/);
});

test('a missing shard is an InputError naming its classes and that it never started; --complete computes them here', async () => {
  const cache = join(tmp, 'missing', 'cache');
  const out = join(tmp, 'missing', 'net');
  await buildShard({ ...opts(out, cache), shard: shard(0, 3) });
  await buildShard({ ...opts(out, cache), shard: shard(2, 3) });
  await assert.rejects(buildNetwork(opts(out, cache)), (e: Error) => {
    assert.ok(e instanceof InputError, String(e));
    assert.match(e.message, /lacks 2 of 6 classes/);
    assert.match(e.message, /shard 1\/3/);
    assert.match(e.message, /1\/3 never started/);
    assert.match(e.message, /--complete/);
    return true;
  });
  assert.throws(() => statSync(out), 'nothing left behind');
  const st = await cacheStatus(cache);
  assert.deepEqual(st.caches[0].results[0].plans[0].shards.map((s) => s.state), ['done', 'pending', 'done']);
  const c = await buildNetwork({ ...opts(out, cache), complete: true });
  assert.equal(c.decomposition.classesComputed, 2);
  assertSameNetwork(single.dir, out);
});

test('a shard that fails records it; rerun, it resumes with the finished classes; two shards racing on the same classes both succeed', async () => {
  const cache = join(tmp, 'fail', 'cache');
  const out = join(tmp, 'fail', 'net');
  let settled = 0;
  await assert.rejects(
    buildShard({ ...opts(out, cache), shard: shard(1, 2) }, {
      onClassExtracted: () => {
        if (++settled === 2) throw new Error('node lost');
      },
    }),
    /node lost/,
  );
  let records = await readShardRecords(join((await cacheStatus(cache)).caches[0].results[0].dir), 2);
  assert.deepEqual(records.map((r) => [r.index, r.state, r.error]), [[1, 'failed', 'node lost']]);
  assert.match(formatCacheStatus(await cacheStatus(cache)), /shard 1\/2 failed on .*: node lost/);
  const again = await buildShard({ ...opts(out, cache), shard: shard(1, 2) });
  assert.equal(again.extraction.classesCached, 2, 'the two classes settled before the failure are not extracted again');
  assert.equal(again.extraction.classesExtracted, again.classes.length - 2);
  records = await readShardRecords(again.resultsDir, 2);
  assert.equal(records[0].state, 'done');

  // Shard 0 twice at once: both write the same classes (atomic renames), neither fails, the cache stays whole.
  const [x, y] = await Promise.all([buildShard({ ...opts(out, cache), shard: shard(0, 2) }), buildShard({ ...opts(out, cache), shard: shard(0, 2) })]);
  assert.deepEqual(x.classes, y.classes);
  await buildNetwork(opts(out, cache));
  assertSameNetwork(single.dir, out);
});

test('a rerun of a finished single build recomputes nothing (results cached per class)', async () => {
  const again = await buildNetwork(opts(single.dir, join(tmp, 'single', 'cache')));
  assert.deepEqual([again.extraction.classesExtracted, again.decomposition.classesComputed, again.assembled], [0, 0, true]);
});
