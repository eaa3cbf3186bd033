// Explaining a whole dataset split as JSON lines, in one run and in shards merged afterwards, on the
// planted network (test/evaluate/planted-net.ts) with one undecodable image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainDataset, LINES_FILE, LINES_SUMMARY_FILE, type DatasetExplanationSummary, type DatasetImageEntry } from '../../src/explain/explain-dataset.ts';
import { makePlantedFixture, type PlantedFixture } from '../evaluate/planted-net.ts';
import { protolens } from '../helpers/cli.ts';

let dir: string;
let fx: PlantedFixture;
let data: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-explain-dataset-'));
  fx = await makePlantedFixture(dir);
  data = join(dir, 'cub-broken');
  cpSync(fx.cub.root, data, { recursive: true });
  writeFileSync(join(data, 'images', fx.cub.images.filter((im) => !im.isTrain)[5].name), 'not a JPEG');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const lines = (file: string): DatasetImageEntry[] => readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as DatasetImageEntry);

test('one run: a line per test image in dataset order with label and correctness; contributions + bias = logit on every line', async () => {
  const out = join(dir, 'single');
  const s = await explainDataset({ net: fx.markers, data, out, batchSize: 2 });
  const tests = fx.cub.images.filter((im) => !im.isTrain);
  assert.equal(s.summary.images, tests.length);
  assert.equal(s.summary.failed, 1);
  assert.equal(s.failures[0].ordinal, 5);
  const ls = lines(join(out, LINES_FILE));
  assert.deepEqual(ls.map((l) => l.ordinal), tests.map((_, i) => i));
  assert.deepEqual(ls.map((l) => l.id), tests.map((im) => String(im.id)));
  let correct = 0;
  for (const [i, l] of ls.entries()) {
    assert.equal(l.label.index, tests[i].classIndex);
    assert.equal(l.label.name, fx.cub.classNames[tests[i].classIndex]);
    if (l.status === 'failed') {
      assert.equal(i, 5);
      assert.equal(l.correct, null);
      continue;
    }
    const e = l.explained;
    const sum = e.prototypes.reduce((a, t) => a + t.contribution, 0) + e.bias;
    assert.ok(Math.abs(sum - e.logit) <= 1e-4 * Math.max(1, Math.abs(e.logit)), `line ${i}: ${sum} vs ${e.logit}`);
    assert.equal(l.correct, l.predicted.index === tests[i].classIndex);
    if (l.correct) correct++;
  }
  assert.equal(s.summary.correct, correct);
  assert.equal(s.summary.top1, correct / 11);
  const onDisk = JSON.parse(readFileSync(join(out, LINES_SUMMARY_FILE), 'utf8')) as DatasetExplanationSummary;
  assert.deepEqual(onDisk.summary, s.summary);
});

test('three shards then a merge write the single run\'s lines byte for byte; missing shards are named, complete fills them', async () => {
  const single = join(dir, 'single2');
  const one = await explainDataset({ net: fx.markers, data, out: single, batchSize: 2, maxImages: 10 });
  const out = join(dir, 'sharded');
  const ranges: number[][] = [];
  for (const index of [1, 2, 0]) {
    const s = await explainDataset({ net: fx.markers, data, out, batchSize: 2, maxImages: 10, shard: { index, count: 3 } });
    ranges[index] = [...s.shard!.range];
  }
  assert.deepEqual(ranges, [[0, 4], [4, 8], [8, 10]]);
  assert.ok(!existsSync(join(out, LINES_FILE)), 'a shard writes no merged file');
  const merged = await explainDataset({ net: fx.markers, data, out, batchSize: 2, maxImages: 10 });
  assert.equal(merged.mergedShards, 3);
  assert.deepEqual(readFileSync(join(out, LINES_FILE)), readFileSync(join(single, LINES_FILE)));
  assert.deepEqual({ ...merged.summary }, { ...one.summary });
  assert.deepEqual(merged.failures, one.failures);

  // Shard 2 redone with other settings (top 1) no longer counts for these settings.
  await explainDataset({ net: fx.markers, data, out, batchSize: 2, maxImages: 10, top: 1, shard: { index: 2, count: 3 } });
  await assert.rejects(explainDataset({ net: fx.markers, data, out, batchSize: 2, maxImages: 10 }), /1 of 3 explanation shards have no results of these settings: shard 2\/3 \(images 8\.\.9\)/);
  await explainDataset({ net: fx.markers, data, out, batchSize: 2, maxImages: 10, complete: true });
  assert.deepEqual(readFileSync(join(out, LINES_FILE)), readFileSync(join(single, LINES_FILE)));
  assert.deepEqual(readdirSync(join(out, 'shards-3')).sort(), ['0.json', '0.jsonl', '1.json', '1.jsonl', '2.json', '2.jsonl']);
});


test('CLI: explain --data --out with --shard (a Kubernetes Indexed Job index), the merge, and usage errors', async () => {
  const out = join(dir, 'cli');
  const args = ['explain', '--net', fx.markers, '--data', fx.cub.root, '--out', out, '--batch', '4'];
  const a = await protolens([...args, '--shard', 'auto', '--shards', '2'], { JOB_COMPLETION_INDEX: '1', HOSTNAME: 'pod-1' });
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /shard 1\/2 \(images 8\.\.11\): 4 of 4 images explained/);
  const b = await protolens([...args, '--shard', '0/2']);
  assert.equal(b.status, 0, b.stderr);
  const m = await protolens([...args, '--json']);
  assert.equal(m.status, 0, m.stderr);
  const summary = JSON.parse(m.stdout) as DatasetExplanationSummary;
  assert.equal(summary.mergedShards, 2);
  assert.equal(summary.summary.images, 12);
  assert.equal(lines(join(out, LINES_FILE)).length, 12);
  for (const [extra, re] of [
    [['--shard', '0/2', fx.cub.images[0].path], /--shard is for explaining a whole dataset/],
    [['--inline'], /--inline is for explaining IMAGEs/],
  ] as const) {
    const r = await protolens([...args, ...extra]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const noOut = await protolens(['explain', '--net', fx.markers, '--data', fx.cub.root]);
  assert.equal(noOut.status, 2);
  assert.match(noOut.stderr, /--out DIR is required to explain a whole dataset/);
});
