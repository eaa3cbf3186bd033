// buildNetwork end to end: a real ONNX net through onnxruntime, real PNGs through sharp, the real
// feature cache, worker threads, and the artifact read back with loadNetwork.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { buildNetwork, type BuildResult } from '../../src/builder/build.ts';
import { BuildInterrupted } from '../../src/features/extract.ts';
import { readNetworkExemplars, type ExemplarIndex } from '../../src/network/exemplar-index.ts';
import { loadNetwork } from '../../src/network/artifact.ts';
import { FeatureStore } from '../../src/features/store.ts';
import { InputError } from '../../src/util/errors.ts';
import { buildHeadModel } from '../helpers/head-models.ts';
import { CLASSES, TRAIN_PER_CLASS, INPUT, corruptCopy, featuresOneByOne, loadClassifier, makeFixture, type Fixture } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'protolens-build-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let fx: Fixture;
let first: BuildResult;
let firstTensors: Buffer;
const fast = { gradient: { maxIterations: 40 } };

const classFiles = (cacheDir: string) =>
  readdirSync(cacheDir)
    .filter((f) => f.startsWith('class-'))
    .sort()
    .map((f) => ({ f, mtime: statSync(join(cacheDir, f)).mtimeMs }));

before(async () => {
  fx = await makeFixture(join(tmp, 'fx'));
  first = await buildNetwork({ model: fx.model, data: fx.cub.root, out: join(tmp, 'net'), threads: 2, exemplars: 4, decompose: { k: 3, ...fast } });
  firstTensors = readFileSync(join(tmp, 'net', 'prototypes.safetensors'));
});

test('the network loads (exact sums), records what it was built from, and splits every logit exactly', async () => {
  const net = await loadNetwork(join(tmp, 'net'));
  const m = net.manifest;
  assert.equal(net.numClasses, CLASSES);
  assert.equal(net.k, 3);
  assert.equal(m.model.path, '../fx/model.onnx');
  assert.equal(resolve(join(tmp, 'net'), m.model.path), fx.model);
  assert.equal(m.model.sha256, createHash('sha256').update(readFileSync(fx.model)).digest('hex'));
  assert.deepEqual(m.classNames, fx.cub.classNames);
  assert.deepEqual(m.dataset, { root: '../fx/cub', format: 'cub', split: 'train', maxImagesPerClass: null });
  assert.deepEqual([m.input.height, m.input.width], [INPUT, INPUT]);
  assert.deepEqual((m.preprocess as { size: number[] }).size, [INPUT, INPUT]);
  assert.equal(m.seed, 0);
  assert.equal((m.options as { allocator: string }).allocator, 'free');
  assert.equal((m.options as { norm: string }).norm, 'image-centred');
  assert.deepEqual(m.failures, []);
  assert.deepEqual(m.classes.map((c) => [c.images, c.failed]), Array(CLASSES).fill([TRAIN_PER_CLASS, 0]));
  assert.equal(first.extraction.classesExtracted, CLASSES);
  assert.ok(first.extraction.headCheck && first.extraction.headCheck.images > 0 && first.extraction.headCheck.relError <= 1e-4, 'head checked on real images');
  assert.equal(first.images, CLASSES * TRAIN_PER_CLASS);

  // Independently: the classifier's own head, features and logits, image by image.
  const clf = await loadClassifier(fx.model);
  try {
    const { C, D, k } = { C: CLASSES, D: clf.head.featureDim, k: 3 };
    assert.deepEqual(Array.from(net.headWeight), Array.from(clf.head.W));
    for (let c = 0; c < C; c++) {
      for (let j = 0; j < D; j++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += net.prototypes[(c * k + i) * D + j];
        assert.ok(Math.abs(s - clf.head.W[c * D + j]) <= 1e-5 * (1 + Math.abs(clf.head.W[c * D + j])), `class ${c} channel ${j}`);
      }
    }
    const HW = clf.features.HW;
    const { features, logits } = await featuresOneByOne(clf, fx.cub.root, 2, m.preprocess);
    features.forEach((x, img) => {
      for (let c = 0; c < C; c++) {
        let total = net.bias[c];
        for (let i = 0; i < k; i++) {
          let contribution = 0;
          for (let p = 0; p < HW; p++) for (let j = 0; j < D; j++) contribution += x[p * D + j] * net.prototypes[(c * k + i) * D + j];
          total += contribution / HW;
        }
        assert.ok(Math.abs(total - logits[img][c]) <= 1e-4 * (1 + Math.abs(logits[img][c])), `image ${img} class ${c}: ${total} vs ${logits[img][c]}`);
      }
    });
  } finally {
    await clf.close();
  }
});

test('exemplars: PNG crops and context pictures, at most one per image, best first, scores are the true maxima', async () => {
  const dir = join(tmp, 'net');
  const net = await loadNetwork(dir);
  const index: ExemplarIndex = JSON.parse(readFileSync(join(dir, 'exemplars', 'index.json'), 'utf8'));
  assert.equal(net.manifest.exemplars?.index, 'exemplars/index.json');
  assert.equal(index.perPrototype, 4);
  assert.equal(index.percentile, 95);
  assert.equal(index.classes.length, CLASSES);
  const clf = await loadClassifier(fx.model);
  try {
    const { HW, D } = clf.features;
    const k = net.k;
    for (const cls of index.classes) {
      const { items, features } = await featuresOneByOne(clf, fx.cub.root, cls.index, net.manifest.preprocess);
      assert.equal(cls.prototypes.length, k);
      for (let i = 0; i < k; i++) {
        const p = net.prototypes.subarray((cls.index * k + i) * D, (cls.index * k + i + 1) * D);
        const truth = features.map((x) => {
          let best = -Infinity;
          for (let q = 0; q < HW; q++) {
            let s = 0;
            for (let j = 0; j < D; j++) s += x[q * D + j] * p[j];
            best = Math.max(best, s);
          }
          return best;
        });
        const list = cls.prototypes[i];
        assert.equal(list.length, 4);
        assert.equal(new Set(list.map((e) => e.item)).size, list.length, 'one patch per image');
        const sorted = [...truth].sort((a, b) => b - a);
        const tol = 1e-5 * (1 + Math.abs(sorted[0]));
        for (let r = 0; r < list.length; r++) {
          const e = list[r];
          if (r > 0) assert.ok(list[r - 1].score >= e.score, 'sorted by score');
          const j = items.findIndex((it) => it.id === e.item);
          assert.ok(j >= 0, `exemplar ${e.item} is a training image of class ${cls.index}`);
          assert.ok(Math.abs(e.score - truth[j]) <= tol, `score ${e.score} vs recomputed ${truth[j]}`);
          assert.ok(Math.abs(e.score - sorted[r]) <= tol, `rank ${r}: ${e.score} is the ${r + 1}-th best ${sorted[r]}`);
          assert.equal(e.image, `images/${items[j].path.split('/images/')[1]}`);
          assert.ok(e.box.x >= 0 && e.box.y >= 0 && e.box.width >= 1 && e.box.x + e.box.width <= INPUT && e.box.y + e.box.height <= INPUT);
          // WebP by default; the context is the whole input (32 px: under the 112 px context size, not enlarged)
          const crop = readFileSync(join(dir, e.crop));
          assert.equal(crop.subarray(8, 12).toString(), 'WEBP');
          assert.ok(e.crop.endsWith('.webp') && e.context.endsWith('_context.webp'));
          const cm = await sharp(crop).metadata();
          assert.deepEqual([cm.format, cm.width, cm.height], ['webp', e.box.width, e.box.height]);
          const ctx = await sharp(join(dir, e.context)).metadata();
          assert.deepEqual([ctx.format, ctx.width, ctx.height], ['webp', INPUT, INPUT]);
        }
      }
    }
  } finally {
    await clf.close();
  }
});

test('a rebuild with another k skips extraction, replaces the network, and is deterministic across thread counts', async () => {
  const net = join(tmp, 'net');
  const cacheDir = first.cacheDir;
  const before = classFiles(cacheDir);
  assert.equal(before.length, CLASSES);
  mkdirSync(join(net, '.building-2147483646-deadbeef', 'exemplars'), { recursive: true }); // left by a killed build
  const r2 = await buildNetwork({ model: fx.model, data: fx.cub.root, out: net, threads: 1, exemplars: 4, exemplarFormat: 'png', exemplarContextSize: 16, decompose: { k: 2, ...fast } });
  assert.equal(r2.extraction.classesExtracted, 0);
  assert.equal(r2.extraction.classesCached, CLASSES);
  assert.equal(r2.extraction.imagesExtracted, 0);
  assert.equal(r2.extraction.headCheck, null, 'nothing extracted, nothing to check');
  assert.deepEqual(classFiles(cacheDir), before, 'no cache file rewritten');
  const n2 = await loadNetwork(net);
  assert.equal(n2.k, 2);
  // PNG on request, and the context at the asked size (16 px on the longer side of a 32 px input)
  const e2 = (await readNetworkExemplars(n2))!.byClass[0][0][0];
  const [c2, x2] = await Promise.all([sharp(join(net, e2.crop)).metadata(), sharp(join(net, e2.context)).metadata()]);
  assert.deepEqual([c2.format, c2.width, c2.height, x2.format, x2.width, x2.height], ['png', e2.box.width, e2.box.height, 'png', 16, 16]);
  assert.equal((n2.manifest.options.build as { exemplarFormat: string }).exemplarFormat, 'png');
  assert.deepEqual(readdirSync(join(net, 'exemplars', 'c00000')).filter((f) => f.startsWith('p2_')), [], 'exemplars of the old third prototype are gone');
  assert.deepEqual(readdirSync(net).filter((f) => f.startsWith('.')), [], 'no staging folder left, a dead build\'s removed');

  await buildNetwork({ model: fx.model, data: fx.cub.root, out: net, threads: 1, exemplars: 4, decompose: { k: 3, ...fast } });
  assert.ok(readFileSync(join(net, 'prototypes.safetensors')).equals(firstTensors), 'same tensors with 1 thread as with 2');
});

test('an interrupted build resumes without recomputing finished classes', async () => {
  const cache = join(tmp, 'cache-interrupt');
  const out = join(tmp, 'net-interrupt');
  const opts = { model: fx.model, data: fx.cub.root, out, cache, threads: 1, exemplars: 0, decompose: { k: 3, ...fast } };
  let settled = 0;
  await assert.rejects(
    buildNetwork(opts, {
      onClassExtracted: () => {
        if (++settled === 2) throw new Error('simulated crash after 2 classes');
      },
    }),
    /simulated crash after 2 classes/,
  );
  assert.equal(existsSync(out), false, 'no network folder from a failed build');
  const [key] = readdirSync(cache);
  const kept = classFiles(join(cache, key));
  assert.deepEqual(kept.map((x) => x.f), ['class-00000.safetensors', 'class-00001.safetensors']);

  const extracted: number[] = [];
  const r = await buildNetwork(opts, { onClassExtracted: (info) => void (info.cached ? null : extracted.push(info.classIndex)) });
  assert.deepEqual(extracted, [2, 3]);
  assert.equal(r.extraction.classesCached, 2);
  assert.equal(r.extraction.classesExtracted, CLASSES - 2);
  assert.deepEqual(classFiles(join(cache, key)).slice(0, 2), kept, 'finished classes untouched');
  assert.equal(r.manifest.exemplars, null);
  await loadNetwork(out);

  // A cache made without exemplars keeps no pictures; a build that wants exemplars from it decodes the
  // originals instead (nothing re-extracted), and gets the same patches as from kept pictures, within
  // the JPEG's error (q90; the fixture's drawings are noisy, its worst case: 4.4 levels measured).
  const store = await FeatureStore.open(cache, { ...JSON.parse(readFileSync(join(cache, key, 'key.json'), 'utf8')).key });
  assert.equal((await store.read(0)).pictures, undefined);
  const fromOriginals = await buildNetwork({ ...opts, exemplars: 2, exemplarFormat: 'png' });
  assert.equal(fromOriginals.extraction.classesExtracted, 0);
  const fresh = await buildNetwork({ ...opts, out: join(tmp, 'net-kept'), cache: join(tmp, 'cache-kept'), exemplars: 2, exemplarFormat: 'png' });
  const keptStore = await FeatureStore.open(join(tmp, 'cache-kept'), store.key);
  const kept0 = await keptStore.read(0);
  assert.equal(kept0.pictures?.length, kept0.n, 'the extraction kept one picture per image');
  const [a, b] = [(await readNetworkExemplars(await loadNetwork(out)))!, (await readNetworkExemplars(await loadNetwork(fresh.dir)))!];
  for (const c of [0, CLASSES - 1]) {
    const [ea, eb] = [a.byClass[c][0][0], b.byClass[c][0][0]];
    assert.deepEqual([ea.item, ea.box], [eb.item, eb.box], 'same exemplar, same box');
    const [pa, pb] = await Promise.all([sharp(join(out, ea.crop)).raw().toBuffer(), sharp(join(fresh.dir, eb.crop)).raw().toBuffer()]);
    assert.equal(pa.length, pb.length);
    let sum = 0;
    for (let i = 0; i < pa.length; i++) sum += Math.abs(pa[i] - pb[i]);
    assert.ok(sum / pa.length <= 8, `mean difference ${sum / pa.length} levels between a patch from the original and from the kept picture`);
  }
});

test('an aborted signal stops the build with BuildInterrupted before anything is written', async () => {
  const ac = new AbortController();
  ac.abort();
  const out = join(tmp, 'net-aborted');
  await assert.rejects(buildNetwork({ model: fx.model, data: fx.cub.root, out, signal: ac.signal }), BuildInterrupted);
  assert.equal(existsSync(out), false);
});

test('undecodable images are skipped and listed; strict makes them an error (fresh and cached)', async () => {
  const bad = fx.cub.images.filter((im) => im.isTrain && im.classIndex === 1)[0];
  const data = corruptCopy(fx, join(tmp, 'cub-bad'), [bad.id]);
  const cache = join(tmp, 'cache-bad');
  const out = join(tmp, 'net-bad');
  const warnings: string[] = [];
  const r = await buildNetwork({ model: fx.model, data, out, cache, threads: 1, exemplars: 2, decompose: { k: 3, ...fast } }, { onWarning: (w) => warnings.push(w) });
  const badPath = join(data, 'images', ...bad.name.split('/'));
  assert.equal(r.failures.length, 1);
  assert.equal(r.failures[0].path, badPath);
  assert.match(r.failures[0].reason, /not a recognised image|corrupt/);
  const net = await loadNetwork(out);
  assert.deepEqual(net.manifest.failures, r.failures);
  assert.deepEqual([net.manifest.classes[1].images, net.manifest.classes[1].failed], [TRAIN_PER_CLASS - 1, 1]);
  assert.ok(warnings.some((w) => /1 image was skipped/.test(w)), warnings.join('\n'));
  const index: ExemplarIndex = JSON.parse(readFileSync(join(out, 'exemplars', 'index.json'), 'utf8'));
  assert.ok(index.classes[1].prototypes.flat().every((e) => e.item !== String(bad.id)));

  // strict, from the cache (the failure was recorded there) and fresh
  await assert.rejects(buildNetwork({ model: fx.model, data, out: join(tmp, 'net-strict'), cache, threads: 1, strict: true }), (e: unknown) => e instanceof InputError && e.message.includes(badPath));
  await assert.rejects(
    buildNetwork({ model: fx.model, data, out: join(tmp, 'net-strict'), cache: join(tmp, 'cache-strict'), threads: 1, strict: true }),
    (e: unknown) => e instanceof InputError && e.message.includes(badPath),
  );
  assert.equal(existsSync(join(tmp, 'net-strict')), false);
});

test('a dataset whose class count differs from the head is an InputError naming both counts', async () => {
  const other = await makeFixture(join(tmp, 'fx5'), { classes: 4, modelClasses: 5 });
  const out = join(tmp, 'net-mismatch');
  await assert.rejects(buildNetwork({ model: other.model, data: other.cub.root, out }), (e: unknown) => e instanceof InputError && /has 4 classes but model .* has 5 outputs/.test(e.message));
  assert.equal(existsSync(out), false);
});

test('too few images for k is an error naming the class; the cap takes an evenly spaced subset', async () => {
  const cache = first.cacheDir.replace(/\/[^/]+$/, '');
  await assert.rejects(
    buildNetwork({ model: fx.model, data: fx.cub.root, out: join(tmp, 'net-k7'), cache, threads: 1, decompose: { k: 7 } }),
    (e: unknown) => e instanceof InputError && e.message.includes("class 0 ('001.class_1'): 6 usable training images, fewer than k = 7"),
  );
  const r = await buildNetwork({ model: fx.model, data: fx.cub.root, out: join(tmp, 'net-cap'), cache, threads: 1, maxImagesPerClass: 3, exemplars: 5, decompose: { k: 2, ...fast } });
  assert.equal(r.extraction.classesExtracted, CLASSES, 'another image list is another cache entry');
  const train0 = fx.cub.images.filter((im) => im.isTrain && im.classIndex === 0).map((im) => String(im.id));
  const chosen = [0, 2, 4].map((i) => train0[i]);
  const index: ExemplarIndex = JSON.parse(readFileSync(join(tmp, 'net-cap', 'exemplars', 'index.json'), 'utf8'));
  assert.equal(index.classes[0].images, 3);
  for (const list of index.classes[0].prototypes) {
    assert.equal(list.length, 3, 'at most one per image: 3 images give 3 exemplars');
    assert.deepEqual(list.map((e) => e.item).sort(), [...chosen].sort());
  }
  assert.equal(r.manifest.dataset.maxImagesPerClass, 3);
});

test('--out must be new, empty or a network folder', async () => {
  const out = join(tmp, 'occupied');
  mkdirSync(out);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  await assert.rejects(buildNetwork({ model: fx.model, data: fx.cub.root, out, cache: join(tmp, 'cache-occ') }), /not empty and holds no protolens network/);
  assert.deepEqual(readdirSync(out), ['notes.txt']);
});

test('unusable --out and --cache paths are InputErrors naming them, before any extraction; nothing is left behind', async () => {
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const extracted: number[] = [];
  const hooks = { onClassExtracted: (i: { classIndex: number }) => void extracted.push(i.classIndex) };
  await assert.rejects(buildNetwork({ model: fx.model, data: fx.cub.root, out: join(file, 'net') }, hooks), (e) => e instanceof InputError && /a-file\/net cannot be a folder: a parent of it is a file/.test((e as Error).message));
  await assert.rejects(buildNetwork({ model: fx.model, data: fx.cub.root, out: file }, hooks), (e) => e instanceof InputError && /exists and is not a folder/.test((e as Error).message));
  const out = join(tmp, 'net-bad-cache');
  await assert.rejects(buildNetwork({ model: fx.model, data: fx.cub.root, out, cache: file }, hooks), (e) => e instanceof InputError && /feature cache .*a-file: cannot create folder .*a-file is a file, not a folder; --cache must be a folder/.test((e as Error).message));
  assert.deepEqual(extracted, []);
  assert.equal(existsSync(out), false, 'the network folder the failed build created is removed');
});

test('--out inside an ImageFolder dataset is refused before anything is created (its folders would be read as classes)', async () => {
  const data = join(tmp, 'imagefolder');
  mkdirSync(join(data, 'a'), { recursive: true });
  writeFileSync(join(data, 'a', 'x.png'), 'listed, not decoded');
  await assert.rejects(
    buildNetwork({ model: fx.model, data, out: join(data, 'net') }),
    (e) => e instanceof InputError && /lies inside the ImageFolder dataset .*, where every folder is read as a class/.test((e as Error).message),
  );
  assert.deepEqual(readdirSync(data), ['a']);
  // A CUB root lists its images: a network folder inside it is allowed (checked up to the model load).
  await assert.rejects(buildNetwork({ model: join(tmp, 'no-model.onnx'), data: fx.cub.root, out: join(fx.cub.root, 'net') }), (e) => !/lies inside/.test((e as Error).message));
});

test('a folder is a network by its manifest\'s schema, not its name: another manifest.json is refused and nothing is touched', async () => {
  const out = join(tmp, 'app');
  mkdirSync(join(out, 'exemplars'), { recursive: true });
  writeFileSync(join(out, 'manifest.json'), '{"name":"my-app"}');
  writeFileSync(join(out, 'exemplars', 'keep-me.txt'), 'mine');
  await assert.rejects(
    buildNetwork({ model: fx.model, data: fx.cub.root, out, cache: join(tmp, 'cache-app') }),
    (e) => e instanceof InputError && /manifest\.json is not a protolens network manifest \(schema null, expected 'protolens\.network'\)/.test((e as Error).message),
  );
  assert.equal(readFileSync(join(out, 'manifest.json'), 'utf8'), '{"name":"my-app"}');
  assert.equal(readFileSync(join(out, 'exemplars', 'keep-me.txt'), 'utf8'), 'mine');
  assert.deepEqual(readdirSync(out).sort(), ['exemplars', 'manifest.json']);
});

test('a network whose exemplars/ holds a file the index does not list is refused before anything is replaced', async () => {
  const net = join(tmp, 'net-foreign');
  await buildNetwork({ model: fx.model, data: fx.cub.root, out: net, cache: first.cacheDir.replace(/\/[^/]+$/, ''), threads: 1, exemplars: 1, decompose: { k: 2, ...fast } });
  const tensors = readFileSync(join(net, 'prototypes.safetensors'));
  writeFileSync(join(net, 'exemplars', 'keep-me.txt'), 'mine');
  await assert.rejects(
    buildNetwork({ model: fx.model, data: fx.cub.root, out: net, cache: first.cacheDir.replace(/\/[^/]+$/, ''), threads: 1, exemplars: 1, decompose: { k: 3, ...fast } }),
    (e) => e instanceof InputError && /exemplars\/ holds 1 file\(s\) its index does not list \(exemplars\/keep-me\.txt\)/.test((e as Error).message),
  );
  assert.equal(readFileSync(join(net, 'exemplars', 'keep-me.txt'), 'utf8'), 'mine');
  assert.ok(readFileSync(join(net, 'prototypes.safetensors')).equals(tensors), 'the network is unchanged');
});

test('the images follow the model: an NHWC input of 12 x 10 (non-square) gives a loadable network', async () => {
  const model = join(tmp, 'nhwc.onnx');
  writeFileSync(model, buildHeadModel({ layout: 'NHWC', inputSize: [12, 10], featureDim: 6, numClasses: CLASSES, seed: 4 }).model);
  const out = join(tmp, 'net-nhwc');
  const r = await buildNetwork({ model, data: fx.cub.root, out, threads: 1, exemplars: 1, decompose: { k: 2, ...fast } });
  const net = await loadNetwork(out);
  const pre = net.manifest.preprocess as { layout: string; size: number[] };
  assert.deepEqual([pre.layout, pre.size], ['NHWC', [12, 10]]);
  assert.deepEqual(net.manifest.featureMap, { height: 12, width: 10, channels: 6, nonNegative: true });
  const index: ExemplarIndex = JSON.parse(readFileSync(join(out, 'exemplars', 'index.json'), 'utf8'));
  const e = index.classes[0].prototypes[0][0];
  const ctx = await sharp(join(out, e.context)).metadata();
  assert.deepEqual([ctx.width, ctx.height], [10, 12], 'context pictures at the input size: 10 wide, 12 high');
  assert.ok(e.box.x + e.box.width <= 10 && e.box.y + e.box.height <= 12);
  assert.equal(r.extraction.classesExtracted, CLASSES, 'another model is another cache key');
});
