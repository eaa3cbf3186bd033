// Sharded evaluations: shards' partial results merged into the report of a single run, on the planted
// network with every metric, a batch size that splits the test set over several batches, and one
// undecodable image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateNetwork, evaluateShard, type EvaluateOptions } from '../../src/evaluate/evaluate-network.ts';
import { shardRanges } from '../../src/data/selection.ts';
import type { EvaluationReport } from '../../src/evaluate/output/report.ts';
import { parseNumbers, stringifyNumbers } from '../../src/io/json-numbers.ts';
import { makePlantedFixture, type PlantedFixture } from './planted-net.ts';
import { protolens } from '../helpers/cli.ts';

let dir: string;
let fx: PlantedFixture;
let data: string;
let broken: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-eval-shards-'));
  fx = await makePlantedFixture(dir);
  // A copy of the dataset with one test image (the fourth) that cannot be decoded.
  data = join(dir, 'cub-broken');
  cpSync(fx.cub.root, data, { recursive: true });
  broken = fx.cub.images.filter((im) => !im.isTrain)[3].name;
  writeFileSync(join(data, 'images', broken), 'not a JPEG');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('shard ranges: batch-aligned, balanced, the first shard holds the detailed images (hand-computed)', () => {
  assert.deepEqual(shardRanges(5794, 4, 32), [[0, 1472], [1472, 2944], [2944, 4384], [4384, 5794]]);
  assert.deepEqual(shardRanges(12, 3, 2, 3), [[0, 4], [4, 8], [8, 12]]);
  assert.deepEqual(shardRanges(12, 4, 2, 3), [[0, 4], [4, 8], [8, 10], [10, 12]]);
  assert.deepEqual(shardRanges(12, 3, 2, 9), [[0, 10], [10, 12], [12, 12]], 'first shard takes ceil(9 / 2) = 5 batches; one shard is left empty');
  assert.deepEqual(shardRanges(10, 1, 4), [[0, 10]]);
  assert.deepEqual(shardRanges(3, 5, 32), [[0, 3], [3, 3], [3, 3], [3, 3], [3, 3]]);
  assert.throws(() => shardRanges(10, 0, 4), /shards must be an integer >= 1/);
});

test('numbers survive the partial files: NaN and Infinity round-trip, finite doubles exactly', () => {
  const v = { a: NaN, b: [Infinity, -Infinity, 0.1 + 0.2, 1e-310, -0], c: 'NaN', d: { $number: 'x' } };
  const back = parseNumbers(stringifyNumbers(v)) as typeof v;
  assert.ok(Number.isNaN(back.a));
  assert.deepEqual(back.b, [Infinity, -Infinity, 0.1 + 0.2, 1e-310, 0]);
  assert.equal(back.c, 'NaN', 'a string is a string');
  assert.deepEqual(back.d, { $number: 'x' }, 'an unknown tag is left as it is');
});

/** The report without what differs between runs by design: timings, where it was written. */
function scores(r: EvaluationReport): unknown {
  const { timing: _t, outputs: _o, warnings, ...rest } = r;
  const deletion = rest.metrics.deletion ? { ...rest.metrics.deletion, seconds: 0, imagesPerSecond: 0, perturbedPerSecond: 0 } : undefined;
  return { ...rest, metrics: { ...rest.metrics, deletion }, warnings };
}

test('three shards then a merge give the single run\'s report and maps byte for byte; missing shards are named, --complete fills them', async () => {
  const base: EvaluateOptions = {
    net: fx.markers,
    data,
    seed: 3,
    batchSize: 2,
    axioms: { images: 3 },
    deletion: { images: 5, pixelsPerStep: 256 },
  };
  const single = join(dir, 'single');
  const one = await evaluateNetwork({ ...base, out: single });
  assert.deepEqual(one.metricsRun, ['fidelity', 'consistency', 'stability', 'distinctiveness', 'comprehensiveness', 'deletion', 'axioms']);
  assert.equal(one.dataset.failures.length, 1, 'the broken image is reported');
  assert.equal(one.dataset.evaluated, 11);
  assert.equal(one.metrics.deletion!.images, 5, 'evenly spaced ordinals 0, 2, 4, 7, 9; the broken one (3) is not among them');
  assert.ok(one.checks.passed, one.checks.failures.join('; '));

  const sharded = join(dir, 'sharded');
  const ranges: [number, number][] = [];
  for (const index of [2, 0, 1]) {
    const s = await evaluateShard({ ...base, out: sharded, shard: { index, count: 3 } });
    ranges[index] = [...s.range] as [number, number];
    assert.equal(s.failures.length, index === 0 ? 1 : 0, `shard ${index}: the broken image (ordinal 3) is in shard 0`);
  }
  assert.deepEqual(ranges, [[0, 4], [4, 8], [8, 12]]);
  assert.deepEqual(readdirSync(join(sharded, 'shards-3')).sort(), ['0.safetensors', '1.safetensors', '2.safetensors']);
  assert.ok(!readdirSync(sharded).includes('evaluation.json'), 'a shard writes no report');

  const merged = await evaluateNetwork({ ...base, out: sharded });
  assert.equal(merged.timing.mergedShards, 3);
  assert.equal(one.timing.mergedShards, undefined);
  assert.deepEqual(scores(merged), scores(one));
  assert.deepEqual(readFileSync(join(sharded, 'maps.safetensors')), readFileSync(join(single, 'maps.safetensors')), 'maps.safetensors identical');
  assert.equal(readFileSync(join(sharded, 'maps.json'), 'utf8'), readFileSync(join(single, 'maps.json'), 'utf8'));
  const untimed = (f: string) => readFileSync(f, 'utf8').replace(/[\d.]+ (s|perturbed images\/s|images\/s)\b/g, 'T');
  assert.equal(untimed(join(sharded, 'results.md')), untimed(join(single, 'results.md')), 'results.md identical apart from timings');

  // Other settings: the shards do not match, so they are not merged; a rerun of shard 1 with other
  // settings makes shard 1 missing for the original settings.
  await evaluateShard({ ...base, seed: 4, out: sharded, shard: { index: 1, count: 3 } });
  await assert.rejects(evaluateNetwork({ ...base, out: sharded }), (e: Error) => {
    assert.match(e.message, /1 of 3 evaluation shards have no results of these settings/);
    assert.match(e.message, /shard 1\/3 \(images 4\.\.7\): results of other settings/);
    assert.match(e.message, /--complete/);
    return true;
  });
  const completed = await evaluateNetwork({ ...base, out: sharded, complete: true });
  assert.deepEqual(scores(completed), scores(one), '--complete computes shard 1 again and merges');
});

test('a shard needs out and a valid index; a folder protolens did not write is refused', async () => {
  await assert.rejects(evaluateShard({ net: fx.markers, data: fx.cub.root, out: join(dir, 'x'), shard: { index: 3, count: 3 } }), /0 <= index < count, got 3\/3/);
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, shard: { index: 0, count: 2 } }), /use evaluateShard/);
  await assert.rejects(evaluateShard({ net: fx.markers, data: fx.cub.root, out: fx.cub.root, shard: { index: 0, count: 2 } }), /not a protolens evaluation folder/);
});


test('CLI: evaluate --shard I/N and --shard auto (a Slurm array task), the merge, its exit 3 and usage errors', async () => {
  const out = join(dir, 'cli');
  const args = ['evaluate', '--net', fx.markers, '--data', fx.cub.root, '--batch', '2', '--axiom-images', '2', '--deletion-images', '3', '--pixels-per-step', '512', '--out', out];
  const first = await protolens([...args, '--shard', '0/2', '--json']);
  assert.equal(first.status, 0, first.stderr);
  const summary = JSON.parse(first.stdout) as { schema: string; shard: { index: number; count: number }; range: [number, number]; images: number };
  assert.equal(summary.schema, 'protolens.evaluation-shard-run');
  assert.deepEqual(summary.range, [0, 6]);
  assert.equal(summary.images, 6);
  const second = await protolens([...args, '--shard', 'auto'], { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '1', SLURM_ARRAY_TASK_COUNT: '2' });
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /shard 1\/2: images 6\.\.11 scored/);
  const merged = await protolens([...args, '--json']);
  assert.equal(merged.status, 0, merged.stderr);
  const report = JSON.parse(merged.stdout) as EvaluationReport;
  assert.equal(report.timing.mergedShards, 2);
  assert.equal(report.dataset.evaluated, 12);
  const direct = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, batchSize: 2, axioms: { images: 2 }, deletion: { images: 3, pixelsPerStep: 512 } });
  assert.deepEqual(scores(report), scores(direct), "the merged CLI report equals a one-process run's");

  rmSync(join(out, 'shards-2', '1.safetensors'));
  const missing = await protolens(args);
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /shard 1\/2 \(images 6\.\.11\): not run yet/);
  for (const [extra, re] of [
    [['--shard', '0/2', '--complete'], /--complete is for the final run without --shard/],
    [['--shard', '2/2'], /shard index 2 is outside 0\.\.1/],
  ] as const) {
    const r = await protolens([...args, ...extra]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const noOut = await protolens(['evaluate', '--net', fx.markers, '--data', fx.cub.root, '--shard', '0/2']);
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /--shard needs --out DIR/);
});
