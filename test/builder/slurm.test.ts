// A real Slurm run: a one-node cluster (munged, slurmctld, slurmd from Debian's packages) started by
// this test, the demo's build submitted as a job array of 4 shards with `--shard auto`, the network
// assembled from the shared cache and compared byte for byte with a build on one machine; then its
// evaluation as an array of 3 shards, merged and compared with a one-process evaluation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generatePartsDataset } from '../../src/data/synthetic/generate.ts';
import { readDemoModelRecord } from '../../src/demo/model-record.ts';
import { DEFAULT_DEMO_MODEL } from '../../src/demo/options.ts';
import { startSlurmCluster, type SlurmCluster } from '../helpers/slurm-cluster.ts';
import { treeFiles } from '../helpers/tree-files.ts';

const repo = resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'protolens-slurm-'));
let cluster: SlurmCluster | null = null;
after(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let data: string;
let buildArgs: string[];
/** The network the first test assembles (the second evaluates it). */
const net = join(tmp, 'net');
before(async () => {
  const record = await readDemoModelRecord(DEFAULT_DEMO_MODEL.replace(/\.onnx$/, '.json'));
  // The demo's dataset generator, seeds and image parameters, with fewer images per class.
  const ds = await generatePartsDataset({ dir: join(tmp, 'dataset'), ...record.datasetParams, trainPerClass: 16, testPerClass: 2 });
  data = ds.dir;
  // The demo's build: its model, its preprocessing, k = 3, the default preset, seed 0.
  buildArgs = ['--model', DEFAULT_DEMO_MODEL, '--data', data, '--k', '3', '--exemplars', '3', '--resize', 'stretch', '--crop-to-box', '--interpolation', 'bilinear', '--normalize', 'half', '--threads', '1', '--ort-threads', '1'];
  cluster = await startSlurmCluster(join(tmp, 'slurm'));
});

function protolens(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'protolens.js'), ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}


test('sbatch --array=0-3 of `build --shard auto`, then assembly: the network equals a one-machine build byte for byte', { timeout: 900_000 }, async () => {
  const c = cluster!;
  const cache = join(tmp, 'shared-cache');
  const script = join(tmp, 'shard.sh');
  writeFileSync(
    script,
    [
      '#!/bin/bash',
      '#SBATCH --job-name=protolens-build',
      '#SBATCH --cpus-per-task=1',
      'set -euo pipefail',
      `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(repo, 'bin', 'protolens.js'))} build ${buildArgs.map((a) => JSON.stringify(a)).join(' ')} --out ${JSON.stringify(net)} --cache ${JSON.stringify(cache)} --shard auto --json --quiet`,
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  const jobId = c.run('sbatch', ['--parsable', '--array=0-3', `--chdir=${tmp}`, `--output=${join(tmp, 'shard-%a.out')}`, `--error=${join(tmp, 'shard-%a.err')}`, script]).trim().split(';')[0];
  assert.match(jobId, /^\d+$/);
  const finished = await c.waitForJob(jobId, 600_000);
  const outputs = [0, 1, 2, 3].map((i) => ({ out: readFileSync(join(tmp, `shard-${i}.out`), 'utf8'), err: readFileSync(join(tmp, `shard-${i}.err`), 'utf8') }));
  assert.ok(finished, `the array did not finish in 600 s\n${c.logs()}`);

  // Every task ran its own shard of the plan, read from Slurm's environment.
  const summaries = outputs.map(({ out, err }, i) => {
    assert.ok(out.trim().startsWith('{'), `task ${i} printed no summary; stderr:\n${err}\n${c.logs()}`);
    return JSON.parse(out);
  });
  assert.deepEqual(summaries.map((s) => [s.schema, s.shard.index, s.shard.count, s.shard.source]), [0, 1, 2, 3].map((i) => ['protolens.build-shard/1', i, 4, 'slurm']));
  const owned = summaries.flatMap((s) => s.classes as number[]).sort((a, b) => a - b);
  assert.deepEqual(owned, Array.from({ length: 15 }, (_, i) => i), 'the 15 classes split over the 4 shards, each once');
  assert.ok(summaries.every((s) => s.decomposition.classesComputed === s.classes.length));

  const status = protolens(['status', '--cache', cache, '--json']);
  assert.equal(status.status, 0, status.stderr);
  const st = JSON.parse(status.stdout);
  const shards = st.caches[0].results[0].plans[0].shards;
  assert.deepEqual(shards.map((s: { state: string }) => s.state), ['done', 'done', 'done', 'done']);
  assert.ok(shards.every((s: { job: string }) => new RegExp(`^slurm ${jobId}_\\d$`).test(s.job)), JSON.stringify(shards));
  assert.match(protolens(['status', '--cache', cache]).stdout, /4 shards: 4 done/);

  // Assembly: no extraction, no decomposition.
  const asm = protolens(['build', ...buildArgs, '--out', net, '--cache', cache, '--json', '--quiet']);
  assert.equal(asm.status, 0, asm.stderr);
  const a = JSON.parse(asm.stdout);
  assert.equal(a.assembled, true);
  assert.deepEqual([a.extraction.classesExtracted, a.decomposition.classesComputed, a.decomposition.classesFromCache], [0, 0, 15]);

  // One machine, its own cache.
  const one = protolens(['build', ...buildArgs, '--out', join(tmp, 'net-one'), '--cache', join(tmp, 'cache-one'), '--json', '--quiet']);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(JSON.parse(one.stdout).decomposition.classesComputed, 15);
  const fa = treeFiles(join(tmp, 'net-one'));
  const fb = treeFiles(net);
  assert.deepEqual([...fb.keys()].sort(), [...fa.keys()].sort());
  for (const [name, bytes] of fa) assert.ok(bytes.equals(fb.get(name)!), `${name} differs between the sharded and the one-machine network`);
});

test('sbatch --array=0-2 of `evaluate --shard auto`, then the merge: the report equals a one-process evaluation', { timeout: 900_000 }, async () => {
  const c = cluster!;
  const out = join(tmp, 'eval');
  const evalArgs = ['evaluate', '--net', net, '--data', data, '--batch', '8', '--axiom-images', '4', '--deletion-images', '3', '--threads', '1'];
  const script = join(tmp, 'eval.sh');
  writeFileSync(
    script,
    ['#!/bin/bash', '#SBATCH --job-name=protolens-evaluate', '#SBATCH --cpus-per-task=1', 'set -euo pipefail', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(repo, 'bin', 'protolens.js'))} ${[...evalArgs, '--out', out, '--shard', 'auto', '--json'].map((a) => JSON.stringify(a)).join(' ')}`, ''].join('\n'),
  );
  chmodSync(script, 0o755);
  const jobId = c.run('sbatch', ['--parsable', '--array=0-2', `--chdir=${tmp}`, `--output=${join(tmp, 'eval-%a.out')}`, `--error=${join(tmp, 'eval-%a.err')}`, script]).trim().split(';')[0];
  const finished = await c.waitForJob(jobId, 600_000);
  assert.ok(finished, `the array did not finish in 600 s\n${c.logs()}`);
  const summaries = [0, 1, 2].map((i) => {
    const text = readFileSync(join(tmp, `eval-${i}.out`), 'utf8');
    assert.ok(text.trim().startsWith('{'), `task ${i} printed no summary; stderr:\n${readFileSync(join(tmp, `eval-${i}.err`), 'utf8')}\n${c.logs()}`);
    return JSON.parse(text) as { shard: { index: number; count: number }; range: [number, number] };
  });
  // 30 test images in batches of 8: 4 batches dealt 2, 1, 1.
  assert.deepEqual(summaries.map((s) => s.range), [[0, 16], [16, 24], [24, 30]]);

  const merged = protolens([...evalArgs, '--out', out, '--json']);
  assert.equal(merged.status, 0, merged.stderr);
  const one = protolens([...evalArgs, '--out', join(tmp, 'eval-one'), '--json']);
  assert.equal(one.status, 0, one.stderr);
  const a = JSON.parse(merged.stdout);
  const b = JSON.parse(one.stdout);
  assert.equal(a.timing.mergedShards, 3);
  assert.equal(a.dataset.evaluated, 30);
  const untimed = (r: { timing: unknown; outputs: unknown; metrics: { deletion?: Record<string, unknown> } }) => ({ ...r, timing: null, outputs: null, metrics: { ...r.metrics, deletion: { ...r.metrics.deletion, seconds: 0, imagesPerSecond: 0, perturbedPerSecond: 0 } } });
  assert.deepEqual(untimed(a), untimed(b));
  assert.ok(readFileSync(join(out, 'maps.safetensors')).equals(readFileSync(join(tmp, 'eval-one', 'maps.safetensors'))));
});
