/**
 * Sharding's cost, measured: one build on this machine against the same build split into N shards
 * (run `concurrency` at a time, each with one decomposition and one onnxruntime thread, as a Slurm
 * array of one-core tasks would) plus the assembly, on the scale benches' generated ImageFolder and
 * ResNet-shaped model (bench/cub-data.ts). Prints JSON: wall and CPU seconds of each, the CPU
 * overhead of sharding (target <= 5 %), whether the two networks are byte-identical, and per-class
 * costs for the cost model in docs/scale.md (extraction images/s per core, decomposition and
 * exemplar seconds per class).
 *
 *   node --import tsx bench/shard.ts [--model resnet34|resnet50|densenet121] [--classes 200] [--per-class 10]
 *                                    [--k 10] [--shards 4] [--concurrency 2] [--exemplars 5]
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_MODELS, type BenchModel, bytesOf, dataset, model } from './cub-data.ts';
import { treeFiles } from '../test/helpers/tree-files.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet34' },
    classes: { type: 'string', default: '200' },
    'per-class': { type: 'string', default: '10' },
    k: { type: 'string', default: '10' },
    shards: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: String(availableParallelism()) },
    exemplars: { type: 'string', default: '5' },
  },
});
const MODEL = values.model as BenchModel;
if (!(BENCH_MODELS as readonly string[]).includes(MODEL)) throw new Error(`--model: expected one of ${BENCH_MODELS.join(', ')}, got '${MODEL}'`);
const CLASSES = Number(values.classes);
const PER_CLASS = Number(values['per-class']);
const SHARDS = Number(values.shards);
const CONCURRENCY = Number(values.concurrency);
const r = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

interface Run {
  wall: number;
  summary: Record<string, any>;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const p = spawn(process.execPath, ['bin/protolens.js', 'build', ...args, '--json', '--quiet']);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`build ${args.join(' ')} exited ${code}: ${err}`));
      else resolve({ wall: (performance.now() - t) / 1000, summary: JSON.parse(out) });
    });
  });
}


function sameNetwork(a: string, b: string): boolean {
  const fa = treeFiles(a);
  const fb = treeFiles(b);
  if (fa.size !== fb.size) return false;
  for (const [n, bytes] of fa) if (!fb.get(n)?.equals(bytes)) return false;
  return true;
}

const data = await dataset(CLASSES, PER_CLASS);
const { path: modelPath } = await model(MODEL, CLASSES);
const work = await mkdtemp(join(tmpdir(), 'protolens-bench-shard-'));
const load0 = loadavg()[0];
try {
  const common = ['--model', modelPath, '--data', data, '--k', values.k!, '--exemplars', values.exemplars!, '--threads', '1', '--ort-threads', '1'];
  // One machine, one core: the CPU baseline (the same per-process settings as every shard).
  const single = await cli([...common, '--out', join(work, 'single', 'net'), '--cache', join(work, 'single', 'cache')]);

  // N shards, CONCURRENCY at a time, then the assembly.
  const cache = join(work, 'sharded', 'cache');
  const out = join(work, 'sharded', 'net');
  const t0 = performance.now();
  const shards: Run[] = new Array(SHARDS);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, SHARDS) }, async () => {
      for (let i = next++; i < SHARDS; i = next++) shards[i] = await cli([...common, '--out', out, '--cache', cache, '--shard', `${i}/${SHARDS}`]);
    }),
  );
  const assembly = await cli([...common, '--out', out, '--cache', cache]);
  const shardedWall = (performance.now() - t0) / 1000;
  const shardCpu = shards.reduce((a, s) => a + s.summary.cpuSeconds, 0);
  const shardedCpu = shardCpu + assembly.summary.cpuSeconds;
  const s = single.summary;
  const images = s.images as number;
  console.log(
    JSON.stringify(
      {
        bench: 'shard',
        date: new Date().toISOString(),
        machine: { cpus: availableParallelism(), loadAverageAtStart: r(load0), loadAverageAtEnd: r(loadavg()[0]) },
        setup: { model: MODEL, classes: CLASSES, perClass: PER_CLASS, images, k: Number(values.k), exemplars: Number(values.exemplars), shards: SHARDS, concurrency: CONCURRENCY, threadsPerProcess: 1 },
        single: { wallSeconds: r(single.wall, 1), cpuSeconds: r(s.cpuSeconds, 1), extractionSeconds: r(s.extraction.seconds, 1), decompositionSeconds: r(s.decomposition.seconds, 1), exemplarSeconds: r(s.exemplars?.seconds ?? 0, 1), peakRssMB: s.peakRssMB },
        sharded: {
          wallSeconds: r(shardedWall, 1),
          cpuSeconds: r(shardedCpu, 1),
          shards: shards.map((x) => ({ classes: x.summary.classes.length, images: x.summary.images, wallSeconds: r(x.wall, 1), cpuSeconds: r(x.summary.cpuSeconds, 1), peakRssMB: x.summary.peakRssMB })),
          assembly: { wallSeconds: r(assembly.wall, 1), cpuSeconds: r(assembly.summary.cpuSeconds, 1), assembled: assembly.summary.assembled, classesComputed: assembly.summary.decomposition.classesComputed },
        },
        cpuOverhead: r(shardedCpu / s.cpuSeconds - 1, 4),
        speedup: r(single.wall / shardedWall, 2),
        byteIdentical: sameNetwork(join(work, 'single', 'net'), out),
        perUnit: {
          extractionImagesPerSecondPerCore: r(images / s.extraction.seconds, 1),
          decompositionSecondsPerClass: r(s.decomposition.seconds / CLASSES, 3),
          exemplarSecondsPerClass: r((s.exemplars?.seconds ?? 0) / CLASSES, 3),
          assemblySecondsPerClass: r(assembly.wall / CLASSES, 4),
          processStartSeconds: r(Math.max(0, single.wall - s.seconds), 2),
        },
        networkMegabytes: r(bytesOf(out) / 1e6, 1),
      },
      null,
      2,
    ),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
