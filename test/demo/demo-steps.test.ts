// The demo's small parts: which images are explained, options, the model record, the output
// folder's claim, and the checks that run before anything is generated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageItem } from '../../src/data/types.ts';
import { chooseImages } from '../../src/demo/choose-images.ts';
import { readDemoModelRecord } from '../../src/demo/model-record.ts';
import { DEFAULT_DEMO_MODEL, resolveDemoOptions } from '../../src/demo/options.ts';
import { DEMO_CLAIM_FILE, prepareDemoFolder } from '../../src/demo/output-folder.ts';
import { runDemo } from '../../src/demo/run-demo.ts';
import { argmax } from '../../src/demo/test-pass.ts';
import { InputError } from '../../src/util/errors.ts';

const RECORD = DEFAULT_DEMO_MODEL.replace(/\.onnx$/, '.json');

const item = (index: number, label: number): ImageItem => ({ index, id: String(index + 1), path: `/d/${label}/${index}.jpg`, label });

test('chooseImages: the first test image of each of the first classes, then the first mistake not already chosen', () => {
  // Labels in dataset order: 0 0 1 1 2 2 3; predictions: image 1 (class 0) and 2 (class 1, its first) are wrong.
  const items = [item(0, 0), item(1, 0), item(2, 1), item(3, 1), item(4, 2), item(5, 2), item(6, 3)];
  const pred = [0, 2, 0, 1, 2, 2, 3];
  assert.deepEqual(chooseImages(items, pred, 3, true).map((c) => [c.item.index, c.reason]), [
    [0, 'first of its class'],
    [2, 'first of its class'],
    [4, 'first of its class'],
    [1, 'misclassified'],
  ]);
  // More classes asked than exist; no mistake to add when all are right.
  assert.deepEqual(chooseImages(items, [0, 0, 1, 1, 2, 2, 3], 9, true).map((c) => c.item.index), [0, 2, 4, 6]);
  // Images that could not be classified (-1) are skipped; 0 classes leaves only the mistake.
  assert.deepEqual(chooseImages(items, [-1, 0, 0, 1, 2, 2, 3], 1, false).map((c) => c.item.index), [1]);
  assert.deepEqual(chooseImages(items, pred, 0, true).map((c) => c.item.index), [1]);
});

test('argmax takes the first of equal maxima, within a row of a batch', () => {
  assert.equal(argmax([1, 3, 3, 2]), 1);
  assert.equal(argmax(new Float32Array([9, 9, 0, 1, 5, 5, 2]), 3, 4), 1);
});

test('options: defaults, and errors that name the option', () => {
  const o = resolveDemoOptions();
  assert.equal(o.model, DEFAULT_DEMO_MODEL);
  assert.equal(o.record, RECORD);
  assert.deepEqual([o.k, o.preset, o.seed, o.exemplars, o.explainClasses, o.evaluate], [3, 'default', 0, 5, 6, true]);
  assert.ok(o.outDir.endsWith('/demo-output') && o.cacheDir.endsWith('/.cache/demo'));
  assert.throws(() => resolveDemoOptions({ k: 0 }), /demo option k: expected an integer >= 1, got 0/);
  assert.throws(() => resolveDemoOptions({ exemplars: 0 }), /demo option exemplars/);
  assert.throws(() => resolveDemoOptions({ preset: 'fast' as 'paper' }), /demo option preset/);
  assert.throws(() => resolveDemoOptions({ dataset: { seed: 3 } as never }), /demo option dataset\.seed: not a dataset setting/);
  assert.throws(() => resolveDemoOptions({ outDir: '' }), /demo option outDir: expected a path/);
});

test('the model record: the committed one reads; a broken copy is refused naming file and field', async () => {
  const r = await readDemoModelRecord(RECORD);
  assert.equal(r.classNames.length, 15);
  assert.deepEqual(r.preprocess.size, [64, 64]);
  assert.equal(r.preprocess.cropToBox, true);
  assert.equal(r.datasetParams.classes, 15);
  const dir = await mkdtemp(join(tmpdir(), 'demo-record-'));
  try {
    const raw = JSON.parse(await readFile(RECORD, 'utf8'));
    const write = async (name: string, v: unknown) => {
      const f = join(dir, name);
      await writeFile(f, JSON.stringify(v));
      return f;
    };
    const noSeed = structuredClone(raw);
    delete noSeed.dataset.params.seed;
    await assert.rejects(readDemoModelRecord(await write('a.json', noSeed)), (e: unknown) => e instanceof InputError && /a\.json: 'dataset\.params\.seed' is missing/.test(e.message));
    const badPre = structuredClone(raw);
    badPre.preprocess.normalize = 42;
    await assert.rejects(readDemoModelRecord(await write('b.json', badPre)), /b\.json \(preprocess\): preprocess config normalize/);
    const fewer = structuredClone(raw);
    fewer.classNames.pop();
    await assert.rejects(readDemoModelRecord(await write('c.json', fewer)), /'dataset\.params\.classes' is 15 but 'classNames' lists 14 classes/);
    await assert.rejects(readDemoModelRecord(join(dir, 'none.json')), /none\.json not found/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a model whose hash is not the record\'s is refused before anything is generated', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-hash-'));
  try {
    const model = join(dir, 'demo-cnn.onnx');
    await copyFile(DEFAULT_DEMO_MODEL, model);
    const raw = JSON.parse(await readFile(RECORD, 'utf8'));
    raw.model.sha256 = '0'.repeat(64);
    await writeFile(join(dir, 'demo-cnn.json'), JSON.stringify(raw));
    await assert.rejects(
      runDemo({ model, outDir: join(dir, 'out'), cacheDir: join(dir, 'cache') }),
      (e: unknown) => e instanceof InputError && e.message.includes(raw.model.sha256) && /record .*demo-cnn\.json describes a model/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), ['demo-cnn.json', 'demo-cnn.onnx'], 'no output, no cache');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the output folder: created and claimed; a claimed one is cleared of the last run; a foreign one is left alone', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-out-'));
  try {
    const out = join(dir, 'out');
    await prepareDemoFolder(out);
    assert.ok((await stat(join(out, DEMO_CLAIM_FILE))).isFile());
    await mkdir(join(out, 'explanations', '0003-old'), { recursive: true });
    await writeFile(join(out, 'index.html'), 'old');
    await mkdir(join(out, 'network'));
    await writeFile(join(out, 'network', 'manifest.json'), '{}');
    await prepareDemoFolder(out);
    assert.deepEqual((await readdir(out)).sort(), [DEMO_CLAIM_FILE, 'network'], 'page and explanations cleared; the network is the build\'s to replace');
    const foreign = join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'thesis.tex'), 'x');
    await assert.rejects(prepareDemoFolder(foreign), (e: unknown) => e instanceof InputError && /foreign: the folder is not empty and was not written by the demo/.test(e.message));
    assert.deepEqual(await readdir(foreign), ['thesis.tex']);
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(prepareDemoFolder(join(dir, 'file')), /exists and is not a folder/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
