// Streamed per-class extraction against an independent path (one image at a time through the
// classifier), plus the cap and the cache fingerprints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadImage } from '../../src/data/load.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { openDataset } from '../../src/data/open.ts';
import { type ImageItem } from '../../src/data/types.ts';
import { writeCubFixture, type CubFixture } from '../helpers/cub-fixture.ts';
import { BuildInterrupted, checkPreprocessFits, extractClass } from '../../src/features/extract.ts';
import { capItems, fingerprintItems } from '../../src/features/selection.ts';
import { loadClassifier, type Classifier } from '../../src/model/classifier.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { CheckError, InputError } from '../../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'protolens-extract-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let clf: Classifier;
let cub: CubFixture;
let items: ImageItem[];
const cfg = makePreprocessConfig({ size: 32, normalize: 'half' });

before(async () => {
  const model = join(dir, 'model.onnx');
  writeFileSync(model, buildResNetLike({ seed: 5, numClasses: 2, inputSize: 32 }).model);
  clf = await loadClassifier(model);
  cub = await writeCubFixture(join(dir, 'cub'), { classes: 2, imagesPerClass: 5, width: 40, height: 36, testEvery: 100 });
  items = await (await openDataset(cub.root, { split: 'all' })).itemsOfClass(1);
});
after(async () => clf?.close());

async function oneByOne(list: readonly ImageItem[]): Promise<{ features: Float32Array[]; logits: Float32Array[] }> {
  const features: Float32Array[] = [];
  const logits: Float32Array[] = [];
  for (const it of list) {
    const r = await clf.run(Float32Array.from((await loadImage(it, cfg)).tensor), 1);
    features.push(r.features);
    logits.push(r.logits);
  }
  return { features, logits };
}

const close = (a: Float32Array, b: Float32Array, what: string) => {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(worst <= 1e-5 * (1 + scale), `${what}: max |diff| ${worst}`);
};

test('batched extraction gives each image the features and logits of running it alone, in item order', async () => {
  const per = clf.features.HW * clf.features.D;
  const C = clf.head.numClasses;
  const seen: number[] = [];
  const cf = await extractClass(clf, 1, items, cfg, { batchSize: 2, onImages: (n) => seen.push(n) });
  assert.equal(cf.n, 5);
  assert.equal(cf.classIndex, 1);
  assert.deepEqual(cf.items, items.map((it) => it.id));
  assert.deepEqual(seen, [2, 2, 1], 'progress per batch, last batch partial');
  assert.equal(cf.features.length, 5 * per);
  assert.equal(cf.features.byteLength, cf.features.buffer.byteLength, 'owns its buffer');
  const ref = await oneByOne(items);
  ref.features.forEach((f, j) => close(cf.features.subarray(j * per, (j + 1) * per), f, `features of image ${j}`));
  ref.logits.forEach((l, j) => close(cf.logits.subarray(j * C, (j + 1) * C), l, `logits of image ${j}`));
});

test('an undecodable image is skipped and reported; the rest keep their order; strict names the file', async () => {
  const broken = { ...items[2], path: join(dir, 'broken.png'), id: 'broken' };
  writeFileSync(broken.path, 'not a png');
  const list = [items[0], items[1], broken, items[3]];
  const cf = await extractClass(clf, 1, list, cfg, { batchSize: 3 });
  assert.equal(cf.n, 3);
  assert.deepEqual(cf.items, [items[0].id, items[1].id, items[3].id]);
  assert.equal(cf.failures.length, 1);
  assert.equal(cf.failures[0].path, broken.path);
  assert.match(cf.failures[0].reason, /not a recognised image/);
  const per = clf.features.HW * clf.features.D;
  const ref = await oneByOne([items[3]]);
  close(cf.features.subarray(2 * per, 3 * per), ref.features[0], 'image after the failure');
  await assert.rejects(extractClass(clf, 1, list, cfg, { strict: true }), (e: unknown) => e instanceof InputError && e.message.includes(broken.path));
});

test('an aborted signal stops extraction with BuildInterrupted', async () => {
  const ac = new AbortController();
  let batches = 0;
  await assert.rejects(
    extractClass(clf, 1, items, cfg, { batchSize: 1, signal: ac.signal, onImages: () => ++batches === 2 && ac.abort() }),
    BuildInterrupted,
  );
  assert.equal(batches, 2);
});

test('a preprocessing that does not fit the model is an InputError naming the mismatch', () => {
  assert.throws(() => checkPreprocessFits(clf, makePreprocessConfig({ size: 40 })), /size 40 x 40 differs from the size model .* runs at \(32 x 32\)/);
  assert.throws(() => checkPreprocessFits(clf, makePreprocessConfig({ size: 32, layout: 'NHWC' })), /layout NHWC differs from the input layout .* \(NCHW\)/);
  checkPreprocessFits(clf, cfg);
});

test('the cap takes an evenly spaced subset in order; fingerprints change when a file changes', async () => {
  const ten = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(capItems(ten, 4), [0, 2, 5, 7]);
  assert.deepEqual(capItems(ten, 10), ten);
  assert.deepEqual(capItems(ten, undefined), ten);
  assert.deepEqual(capItems(ten, 1), [0]);
  assert.throws(() => capItems(ten, 0), /maxImagesPerClass/);
  const a = await fingerprintItems(items);
  assert.deepEqual(await fingerprintItems(items), a);
  utimesSync(items[1].path, new Date(2001, 1, 1), new Date(2001, 1, 1));
  const b = await fingerprintItems(items);
  assert.notEqual(b[1], a[1]);
  assert.deepEqual([b[0], ...b.slice(2)], [a[0], ...a.slice(2)]);
  const missing = await fingerprintItems([{ ...items[0], path: join(dir, 'nope.png') }]);
  assert.match(missing[0], /\tmissing$/);
});

test('the head is checked on the first batch of real images: passes on the true head, CheckError on a wrong one', async () => {
  const ok = await extractClass(clf, 1, items, cfg, { batchSize: 2, verifyHead: 1e-4 });
  assert.ok(ok.headCheck, 'the check ran');
  assert.equal(ok.headCheck.images, 2, 'on the first batch');
  assert.ok(ok.headCheck.relError <= 1e-4, `relError ${ok.headCheck.relError}`);
  assert.equal((await extractClass(clf, 1, items, cfg, { batchSize: 2 })).headCheck, undefined, 'off unless asked');
  // The same classifier with one head weight changed: its head no longer explains the logits.
  const W = Float32Array.from(clf.head.W);
  W[0] += 0.5 * (Math.abs(W[0]) + 1);
  const wrong = { ...clf, head: { ...clf.head, W }, run: clf.run.bind(clf) } as Classifier;
  await assert.rejects(extractClass(wrong, 1, items, cfg, { batchSize: 2, verifyHead: 1e-4 }), (e: unknown) => e instanceof CheckError && /training images/.test(e.message) && e.message.includes(items[0].path));
});

test('extracting many classes: the next class is listed and decoding before the current one runs; same features as one class at a time; an abort closes it', async () => {
  const { extractClasses } = await import('../../src/features/extract-classes.ts');
  const { FeatureStore } = await import('../../src/features/store.ts');
  const dataset = await openDataset(cub.root, { split: 'all' });
  const events: string[] = [];
  const watched = Object.create(dataset) as typeof dataset;
  watched.itemsOfClass = async (c: number) => {
    events.push(`list ${c}`);
    return dataset.itemsOfClass(c);
  };
  const runs = Object.create(clf) as Classifier;
  runs.run = (x, n) => {
    events.push('run');
    return clf.run(x, n);
  };
  const store = await FeatureStore.open(join(dir, 'cache-ahead'), { modelSha256: clf.sha256, featureTensor: clf.features.tensor, preprocess: cfg, H: clf.features.H, W: clf.features.W, D: clf.features.D, numClasses: 2 });
  const report = await extractClasses(runs, watched, store, cfg, { batchSize: 2 }, { onClass: (info) => void events.push(`done ${info.classIndex}`) });
  assert.equal(report.classesExtracted, 2);
  // The first pass lists both classes to size the progress; the second opens class 1 before class 0's first run.
  const second = events.slice(2);
  assert.deepEqual(second.slice(0, 3), ['list 0', 'list 1', 'run'], events.join(', '));
  assert.ok(second.indexOf('done 0') < second.lastIndexOf('run'));
  assert.equal(second.filter((e) => e === 'list 1').length, 1, 'class 1 listed once in the second pass');
  for (const c of [0, 1]) {
    const alone = await extractClass(clf, c, await dataset.itemsOfClass(c), cfg, { batchSize: 2 });
    const cached = await store.read(c);
    assert.deepEqual(cached.items, alone.items);
    close(cached.features, alone.features, `class ${c} features`);
  }
  // Interrupted after class 0: class 1's batches were started; they are closed and the call ends.
  const ac = new AbortController();
  const store2 = await FeatureStore.open(join(dir, 'cache-ahead-2'), { modelSha256: clf.sha256, featureTensor: clf.features.tensor, preprocess: cfg, H: clf.features.H, W: clf.features.W, D: clf.features.D, numClasses: 2 });
  await assert.rejects(extractClasses(clf, dataset, store2, cfg, { batchSize: 2, signal: ac.signal }, { onClass: () => ac.abort() }), BuildInterrupted);
  assert.equal(await store2.has(1, await fingerprintItems(await dataset.itemsOfClass(1))), false);
});
