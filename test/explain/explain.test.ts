// Explained predictions on a real ONNX model (ResNet-like, 10 classes) and a network whose prototypes
// split each head row exactly: invariants on every image against the unmodified model, class choice,
// bad input, and the pictures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { loadImage } from '../../src/data/load.ts';
import { Explainer, explainImages, type ImageExplanation, type ImageResult } from '../../src/explain/explain.ts';
import { percentileBox } from '../../src/pictures/percentile.ts';
import { upsampleMap } from '../../src/pictures/heatmap.ts';
import { EXPLANATION_SCHEMA, imageEntry, type ExplanationDocument } from '../../src/explain/schema.ts';
import { decodeModel, encodeModel } from '../../src/onnx/proto.ts';
import { valueInfo } from '../../src/onnx/builder.ts';
import { loadNetwork } from '../../src/network/artifact.ts';
import { CheckError, InputError, UsageError } from '../../src/util/errors.ts';
import { CLASS_NAMES, K, SIZE, makeExplainFixture, type ExplainFixture } from './explain-fixture.ts';

let fx: ExplainFixture;
let ex: Explainer;
/** The unmodified model in its own session, with the pooled feature tensor added as a plain graph output. */
let plain: ort.InferenceSession;
let featureTensor: string;

before(async () => {
  fx = await makeExplainFixture(await mkdtemp(join(tmpdir(), 'protolens-explain-')));
  ex = await Explainer.open(fx.netDir);
  const net = await loadNetwork(fx.netDir);
  featureTensor = net.manifest.model.featureTensor;
  const model = decodeModel(await readFile(fx.modelPath));
  model.graph!.output!.push(valueInfo(featureTensor, null));
  plain = await ort.InferenceSession.create(encodeModel(model));
});
after(async () => {
  await ex?.close();
  await plain?.release();
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<ImageResult>): Promise<ImageResult[]> {
  const out: ImageResult[] = [];
  for await (const r of it) out.push(r);
  return out;
}

/** Logits and NCHW features of the unmodified model on one preprocessed image. */
async function plainRun(path: string): Promise<{ logits: Float32Array; features: Float32Array }> {
  const x = (await loadImage({ id: path, path }, fx.preprocess)).tensor;
  const out = await plain.run({ [fx.inputName]: new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]) });
  return { logits: out[fx.logitsName].data as Float32Array, features: out[featureTensor].data as Float32Array };
}

function ok(r: ImageResult): ImageExplanation {
  assert.equal(r.status, 'ok', r.status === 'failed' ? r.reason : '');
  return r as ImageExplanation;
}

test('every image: logits are the unmodified model\'s, contributions + bias = logit, probabilities sum to 1, top-5 in order', async () => {
  const results = await collect(ex.explainImages(fx.images, { batchSize: 2 }));
  assert.equal(results.length, fx.images.length);
  for (const [j, res] of results.entries()) {
    const r = ok(res);
    assert.equal(r.index, j);
    assert.equal(r.image, fx.images[j]);
    const ref = await plainRun(fx.images[j]);
    let maxDiff = 0;
    for (let c = 0; c < CLASS_NAMES.length; c++) maxDiff = Math.max(maxDiff, Math.abs(r.logits[c] - ref.logits[c]));
    assert.ok(maxDiff <= 1e-4, `image ${j}: max |logit - plain logit| = ${maxDiff}`);
    const sumP = r.probabilities.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sumP - 1) < 1e-12, `probabilities sum to ${sumP}`);
    assert.equal(r.top.length, 5);
    for (let t = 0; t < r.top.length; t++) {
      assert.equal(r.top[t].rank, t + 1);
      if (t > 0) assert.ok(r.top[t].logit <= r.top[t - 1].logit);
    }
    const maxLogit = Math.max(...ref.logits);
    assert.equal(r.top[0].logit, maxLogit);
    assert.ok(ref.logits.every((l, c) => r.top.some((s) => s.index === c) || l <= r.top[4].logit), 'no unreported class beats the 5th');
    // The explained class is the predicted one; its decomposition reproduces the plain model's logit.
    const e = r.explained;
    assert.equal(e.index, r.predicted.index);
    assert.equal(e.selectedBy, 'predicted');
    assert.equal(e.prototypes.length, K);
    assert.equal(e.residual, null);
    const total = e.prototypes.reduce((a, p) => a + p.contribution, 0) + e.bias;
    assert.ok(Math.abs(total - ref.logits[e.index]) <= 1e-4 * Math.max(1, Math.abs(ref.logits[e.index])), `sum ${total} vs logit ${ref.logits[e.index]}`);
    assert.ok(Math.abs(e.sum - total) < 1e-12 && Math.abs(e.difference) <= 1e-4 * Math.max(1, Math.abs(e.logit)));
    for (const p of e.prototypes) {
      assert.ok(Math.abs((p.share ?? NaN) - p.contribution / e.logit) < 1e-12);
      assert.ok(p.exemplars.length === 2, 'two exemplars per prototype from the index');
    }
  }
});

test('heatmaps are x p~_i^T at each feature position (features read from the unmodified model\'s own tensor, NCHW)', async () => {
  const net = await loadNetwork(fx.netDir);
  const D = net.channels;
  const r = ok((await collect(ex.explainImages([fx.images[1]])))[0]);
  const { features } = await plainRun(fx.images[1]);
  const { height: H, width: W } = r.featureMap;
  assert.deepEqual([H, W], [8, 8]);
  const c = r.explained.index;
  for (const p of r.explained.prototypes) {
    const v = net.prototypes.subarray((c * K + p.prototype) * D, (c * K + p.prototype + 1) * D);
    let mean = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += features[d * H * W + y * W + x] * v[d];
        mean += s / (H * W);
        assert.ok(Math.abs(p.heatmap[y * W + x] - s) <= 1e-4 * Math.max(1, Math.abs(s)), `prototype ${p.prototype} at (${y}, ${x}): ${p.heatmap[y * W + x]} vs ${s}`);
      }
    }
    assert.ok(Math.abs(p.contribution - mean) <= 1e-5 * Math.max(1, Math.abs(mean)));
    // The box is the 95th-percentile box of the bicubically upsampled heatmap, inside the input.
    assert.deepEqual(p.box, percentileBox(upsampleMap(p.heatmap, H, W, SIZE, SIZE), SIZE, SIZE, 95));
    assert.ok(p.box!.x >= 0 && p.box!.y >= 0 && p.box!.x + p.box!.width <= SIZE && p.box!.y + p.box!.height <= SIZE);
  }
});

test('--class picks the explained class by name; an unknown name lists the closest names', async () => {
  const byName = await Explainer.open(fx.netDir, { className: 'truck', top: 3 });
  try {
    const [r0, r1] = (await collect(byName.explainImages(fx.images.slice(0, 2)))).map(ok);
    for (const r of [r0, r1]) {
      assert.equal(r.explained.index, 9);
      assert.equal(r.explained.name, 'truck');
      assert.equal(r.explained.selectedBy, 'option');
      assert.equal(r.top.length, 3);
      const rank = 1 + Array.from(r.logits).filter((l) => l > r.logits[9]).length;
      assert.equal(r.explained.rank, rank);
      const total = r.explained.prototypes.reduce((a, p) => a + p.contribution, 0) + r.explained.bias;
      assert.ok(Math.abs(total - r.logits[9]) <= 1e-4 * Math.max(1, Math.abs(r.logits[9])));
    }
  } finally {
    await byName.close();
  }
  await assert.rejects(Explainer.open(fx.netDir, { className: 'truk' }), (e: unknown) => e instanceof UsageError && /'truk' is not one of the 10 classes/.test(e.message) && /closest names: 'truck'/.test(e.message));
  await assert.rejects(ex.explainTensor(new Float32Array(3 * SIZE * SIZE), 1, { classIndex: 10 }), /classIndex: expected a class index in \[0, 9\], got 10/);
});

test('a network with a residual term (allocator none): prototypes + residual + bias = logit', async () => {
  const rex = await Explainer.open(fx.residualNetDir);
  try {
    for (const res of await collect(rex.explainImages(fx.images))) {
      const r = ok(res);
      const e = r.explained;
      assert.ok(e.residual, 'residual term reported');
      assert.ok(Math.abs(e.residual.contribution) > 1e-3, 'the planted residual term is not negligible');
      const total = e.prototypes.reduce((a, p) => a + p.contribution, 0) + e.residual.contribution + e.bias;
      const { logits } = await plainRun(r.image);
      assert.ok(Math.abs(total - logits[e.index]) <= 1e-4 * Math.max(1, Math.abs(logits[e.index])));
      const noResidual = total - e.residual.contribution;
      assert.ok(Math.abs(noResidual - logits[e.index]) > 1e-3, 'without the residual the sum would be off');
    }
  } finally {
    await rex.close();
  }
});

test('a model with another SHA-256 is an InputError naming both hashes; a missing model file names the manifest', async () => {
  const net = await loadNetwork(fx.netDir);
  await assert.rejects(
    Explainer.open(fx.netDir, { model: fx.otherModelPath }),
    (e: unknown) => e instanceof InputError && e.message.includes(fx.otherModelPath) && e.message.includes(net.manifest.model.sha256) && /was built from a model with SHA-256/.test(e.message),
  );
  await assert.rejects(Explainer.open(fx.netDir, { model: join(fx.root, 'nope.onnx') }), (e: unknown) => e instanceof InputError && /--model '.*nope.onnx' does not exist/.test(e.message));
  const moved = { ...net, manifest: { ...net.manifest, model: { ...net.manifest.model, path: 'missing/model.onnx' } } };
  await assert.rejects(Explainer.open(moved), (e: unknown) => e instanceof InputError && /manifest.json \('missing\/model.onnx'/.test(e.message) && /--model/.test(e.message));
  await assert.rejects(Explainer.open(join(fx.root, 'images')), (e: unknown) => e instanceof InputError && /not a protolens network folder/.test(e.message));
});

test('an undecodable image among good ones fails alone, in its place; the others are explained', async () => {
  const list = [fx.images[0], fx.badImage, fx.images[2], join(fx.root, 'images', 'missing.png')];
  const results = await collect(ex.explainImages(list, { batchSize: 3 }));
  assert.deepEqual(results.map((r) => [r.index, r.image, r.status]), [
    [0, list[0], 'ok'],
    [1, list[1], 'failed'],
    [2, list[2], 'ok'],
    [3, list[3], 'failed'],
  ]);
  const bad = results[1];
  assert.ok(bad.status === 'failed' && /not a recognised image|corrupt/.test(bad.reason), JSON.stringify(bad));
  assert.ok(results[3].status === 'failed' && results[3].reason === 'file not found');
  // Same numbers as when explained alone.
  const alone = ok((await collect(ex.explainImages([fx.images[2]])))[0]);
  assert.deepEqual(Array.from(ok(results[2]).logits), Array.from(alone.logits));
});

test('prototypes that no longer sum to the head make explaining a CheckError naming the image', async () => {
  const net = await loadNetwork(fx.netDir);
  net.prototypes.forEach((_, i) => (net.prototypes[i] *= 1.01)); // bypasses the load-time check: a stale in-memory network
  const bad = await Explainer.open(net);
  try {
    await assert.rejects(collect(bad.explainImages([fx.images[0]])), (e: unknown) => e instanceof CheckError && e.message.includes(fx.images[0]) && /plus its bias sum to/.test(e.message));
  } finally {
    await bad.close();
  }
});

test('with out: overlays, combined view, input picture, cards, index.html and explanations.json, all readable', async () => {
  const out = join(fx.root, 'out');
  const list = [fx.images[0], fx.badImage, fx.images[1]];
  const results = await collect(explainImages(fx.netDir, list, { out, top: 4 }));
  const okResults = results.filter((r): r is ImageExplanation => r.status === 'ok');
  assert.equal(okResults.length, 2);
  assert.deepEqual(okResults.map((r) => r.pictures!.dir), ['0000-img_0', '0002-img_1']);
  for (const r of okResults) {
    const pics = r.pictures!;
    for (const rel of [pics.input, pics.combined, ...pics.overlays]) {
      const meta = await sharp(join(out, rel)).metadata();
      assert.equal(meta.format, 'png', rel);
      assert.equal(meta.width! >= SIZE && meta.height! >= SIZE, true, rel);
    }
    assert.equal(pics.overlays.length, K);
    // Small inputs are drawn larger: 32 x 32 at 7x (the smallest integer reaching 224 pixels).
    const om = await sharp(join(out, pics.overlays[0])).metadata();
    assert.deepEqual([om.width, om.height], [7 * SIZE, 7 * SIZE]);
    // The input picture is the image as the model saw it.
    const { data } = await sharp(join(out, pics.input)).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual(new Uint8Array(data), r.rgb!.data);
    const card = await readFile(join(out, pics.card), 'utf8');
    assert.match(card, /^<!doctype html>/);
    assert.ok(card.includes(`Why \u201c${r.explained.name}\u201d?`));
    for (let i = 0; i < K; i++) assert.ok(card.includes(`src="prototype-${i}.png"`));
    // Exemplar patches are copied next to the cards and linked from them.
    const ex0 = r.explained.prototypes[0].exemplars[0];
    assert.ok(card.includes(`src="../${ex0.crop}"`));
    assert.equal((await sharp(join(out, ex0.crop)).metadata()).format, 'webp');
  }
  const index = await readFile(join(out, 'index.html'), 'utf8');
  assert.ok(index.includes('0000-img_0/card.html') && index.includes('0002-img_1/card.html'));
  assert.ok(index.includes('broken.jpg') && /could not be explained/.test(index));
  const doc = JSON.parse(await readFile(join(out, 'explanations.json'), 'utf8')) as ExplanationDocument;
  assert.equal(doc.schema, EXPLANATION_SCHEMA);
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.images.map((e) => [e.index, e.status]), [[0, 'ok'], [1, 'failed'], [2, 'ok']]);
  assert.deepEqual(doc.summary, { images: 3, explained: 2, failed: 1 });
  assert.equal(doc.out, out);
  const e0 = doc.images[0];
  assert.ok(e0.status === 'ok' && e0.pictures && e0.explained.prototypes.every((p, i) => p.overlay === okResults[0].pictures!.overlays[i]));
  assert.equal(e0.status === 'ok' && e0.classes.length, 4);
  // Nothing else was written into the network folder.
  assert.deepEqual((await readdir(fx.netDir)).sort(), ['exemplars', 'manifest.json', 'prototypes.safetensors']);
  assert.ok((await stat(join(out, 'exemplars'))).isDirectory());
});

test('--out is claimed: the network folder, a dataset folder or any folder protolens did not write is refused before anything is written; a previous explanation folder is reused', async () => {
  const { writeFile: wf, mkdir: md } = await import('node:fs/promises');
  const netFiles = (await readdir(fx.netDir)).sort();
  const manifest = await readFile(join(fx.netDir, 'manifest.json'));
  await assert.rejects(collect(ex.explainImages([fx.images[0]], { out: fx.netDir })), (e) => e instanceof InputError && /is not empty and is not a protolens (explanations|evaluation) folder/.test((e as Error).message));
  assert.deepEqual((await readdir(fx.netDir)).sort(), netFiles);
  assert.ok((await readFile(join(fx.netDir, 'manifest.json'))).equals(manifest));
  const mine = join(fx.root, 'my-site');
  await md(mine);
  await wf(join(mine, 'index.html'), 'my page');
  await assert.rejects(collect(ex.explainImages([fx.images[0]], { out: mine })), (e) => e instanceof InputError && /is not a protolens (explanations|evaluation) folder/.test((e as Error).message));
  assert.equal(await readFile(join(mine, 'index.html'), 'utf8'), 'my page');
  const again = join(fx.root, 'again');
  await collect(ex.explainImages([fx.images[0], fx.images[1]], { out: again }));
  const { writeFile: put } = await import('node:fs/promises');
  await put(join(again, 'my-notes.txt'), 'mine'); // not recorded by the run: kept
  const second = await collect(ex.explainImages([fx.images[1]], { out: again }));
  assert.equal(second[0].status, 'ok');
  const left = (await readdir(again)).sort();
  assert.ok(left.includes('.protolens-output') && left.includes('my-notes.txt'));
  assert.deepEqual(left.filter((f) => /^\d{4}-/.test(f)), [second[0].status === 'ok' ? (second[0] as ImageExplanation).pictures!.dir : ''], 'the earlier run\'s image folders are gone, the new one is there');
});

test('a network that crops to boxes: images without a box are used whole (noted); a dataset item with a box is cropped', async () => {
  const net = await loadNetwork(fx.netDir);
  (net.manifest.preprocess as { cropToBox: boolean }).cropToBox = true;
  const boxed = await Explainer.open(net);
  try {
    const [whole, cropped] = (await collect(boxed.explainImages([fx.images[0], { id: 'x', path: fx.images[0], crop: { x1: 4, y1: 2, x2: 24, y2: 20 } }]))).map(ok);
    assert.match(whole.notes.join(' '), /cropped to their bounding boxes; this image has no box and was used whole/);
    assert.deepEqual(cropped.notes, []);
    const plainWhole = ok((await collect(ex.explainImages([fx.images[0]])))[0]);
    assert.deepEqual(Array.from(whole.logits), Array.from(plainWhole.logits));
    const x = (await loadImage({ id: 'x', path: fx.images[0], crop: { x1: 4, y1: 2, x2: 24, y2: 20 } }, { ...fx.preprocess, cropToBox: true })).tensor;
    const ref = (await plain.run({ [fx.inputName]: new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]) }))[fx.logitsName].data as Float32Array;
    assert.ok(Array.from(ref).every((l, c) => Math.abs(l - cropped.logits[c]) <= 1e-4), 'the box crop was applied');
  } finally {
    await boxed.close();
  }
});

test('JSON entries: fields of an explained and a failed image, heatmaps only when asked', async () => {
  const [good, failed] = await collect(ex.explainImages([fx.images[0], fx.badImage]));
  const r = ok(good);
  const plainEntry = imageEntry(r);
  assert.ok(plainEntry.status === 'ok');
  assert.deepEqual(Object.keys(plainEntry), ['index', 'image', 'status', 'classes', 'predicted', 'explained', 'featureMap']);
  assert.deepEqual(Object.keys(plainEntry.explained), ['index', 'name', 'rank', 'logit', 'probability', 'selectedBy', 'bias', 'prototypes', 'residual', 'sum', 'difference']);
  assert.deepEqual(Object.keys(plainEntry.explained.prototypes[0]), ['prototype', 'contribution', 'share', 'box', 'exemplars']);
  assert.deepEqual(Object.keys(plainEntry.explained.prototypes[0].exemplars[0]), ['image', 'score', 'crop', 'context']);
  assert.match(plainEntry.explained.prototypes[0].exemplars[0].crop, /^exemplars\/c\d{5}\/p0_0\.(png|webp)$/);
  const withMaps = imageEntry(r, { heatmaps: true });
  assert.ok(withMaps.status === 'ok');
  withMaps.explained.prototypes.forEach((p, i) => assert.deepEqual(p.heatmap, Array.from(r.explained.prototypes[i].heatmap)));
  assert.equal(withMaps.explained.prototypes[0].heatmap!.length, 64);
  assert.deepEqual(imageEntry(failed), { index: 1, image: fx.badImage, status: 'failed', error: (failed as { reason: string }).reason });
  // JSON round trip keeps every number (no NaN or Infinity).
  assert.deepEqual(JSON.parse(JSON.stringify(withMaps)), withMaps);
});
