// evaluateNetwork end to end on networks whose answers are planted (see planted-net.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateNetwork } from '../../src/evaluate/evaluate-network.ts';
import { forwardBatches } from '../../src/evaluate/context/evaluation-data.ts';
import { selectImages } from '../../src/data/selection.ts';
import { NetworkEvaluationModel, type NetworkEvaluationContext } from '../../src/evaluate/context/network-model.ts';
import { partsMetric } from '../../src/evaluate/metrics/parts.ts';
import { protocolPreprocess } from '../../src/evaluate/protocols/parts.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { BIASES, makePlantedFixture, MAP, SIZE, tamperedCopy, type PlantedFixture } from './planted-net.ts';

let dir: string;
let fx: PlantedFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-evaluate-'));
  fx = await makePlantedFixture(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Reference mapping of a source point into the 64 x 64 crop: int(S * ((p - x1) / (x2 - x1))). */
function mapped(im: PlantedFixture['cub']['images'][number], partId: number): { x: number; y: number; visible: boolean } {
  const p = im.parts.find((q) => q.partId === partId)!;
  const x1 = Math.trunc(im.bbox.x);
  const y1 = Math.trunc(im.bbox.y);
  const x2 = x1 + Math.trunc(im.bbox.w);
  const y2 = y1 + Math.trunc(im.bbox.h);
  return { x: Math.trunc(SIZE * ((Math.trunc(p.x) - x1) / (x2 - x1))), y: Math.trunc(SIZE * ((Math.trunc(p.y) - y1) / (y2 - y1))), visible: p.visible };
}

const testImages = () => fx.cub.images.filter((im) => !im.isTrain);

test('consistency 100 when each prototype map peaks at its planted part; the random split of the same head scores lower', async () => {
  const out = join(dir, 'markers-eval');
  const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['consistency', 'stability'], seed: 7, out });
  const p = r.metrics.parts!;
  assert.equal(r.preprocess.sharedPass, false, 'no network metric ran: only the protocol pass');
  assert.equal(p.images, testImages().length);
  assert.equal(p.options.halfSize, 10, 'round(36 * 64 / 224)');
  assert.equal(p.options.numParts, 3, "the dataset's part count");
  assert.equal(p.seed, 7);
  const refined = p.sets.refined!;
  assert.equal(refined.consistency.score, 100);
  for (const q of refined.consistency.perPrototype) {
    assert.equal(q.bestPart, q.prototype + 1, `class ${q.class} prototype ${q.prototype} hits its own part`);
    assert.equal(q.bestRate, 1);
  }
  assert.equal(p.sets.initial!.consistency.score, 100, 'initial prototypes are |p~| here: the same maps');
  assert.ok(p.sets.random!.consistency.score < 100, `random split ${p.sets.random!.consistency.score}`);
  assert.ok(refined.stability!.score >= 80, `stability ${refined.stability!.score}`);
  assert.deepEqual(refined.perPart.map((x) => x.score), [100 / 3, 100 / 3, 100 / 3]);
  assert.deepEqual(p.partNames, fx.cub.partNames);
  assert.ok(r.checks.passed);

  // Independently: the exported part coordinates are the reference mapping of the planted parts, and
  // prototype j's peak lies within the region half size of part j + 1 wherever that part is visible.
  const { tensors } = await readSafetensors(join(out, 'maps.safetensors'));
  const parts = tensors.parts.data as Int32Array;
  const peaks = tensors.peaks_refined.data as Int32Array;
  const indices = tensors.indices.data as Int32Array;
  const images = testImages();
  assert.equal(indices.length, images.length);
  images.forEach((im, n) => {
    for (let partId = 1; partId <= 3; partId++) {
      const m = mapped(im, partId);
      const o = (n * 3 + partId - 1) * 3;
      if (m.visible) assert.deepEqual([parts[o], parts[o + 1], parts[o + 2]], [m.x, m.y, 1], `image ${im.id} part ${partId}`);
      else assert.equal(parts[o + 2], 0);
      if (!m.visible) continue;
      const [row, col] = [peaks[(n * 3 + partId - 1) * 2], peaks[(n * 3 + partId - 1) * 2 + 1]];
      assert.ok(Math.abs(row - m.y) <= p.options.halfSize && Math.abs(col - m.x) <= p.options.halfSize, `image ${im.id}: prototype ${partId - 1} peaks at (${row}, ${col}), part at (${m.y}, ${m.x})`);
    }
  });
});

test('the multi-set parts scores equal the core parts metric run on the same model and images', async () => {
  const model = await NetworkEvaluationModel.open(fx.markers, { sets: ['refined'] });
  try {
    const data = await selectImages(fx.cub.root);
    const cfg = protocolPreprocess(model.preprocess, 'strict');
    const ctx: NetworkEvaluationContext = {
      model,
      seed: 3,
      batches: () => forwardBatches(model, data, cfg, { batchSize: 5, partsVariant: 'strict' }),
      images: { preprocess: cfg, purpose: 'protocol' },
      imageCount: data.count,
    };
    const core = await partsMetric({ numParts: 3 }).run(ctx);
    const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['consistency', 'stability'], seed: 3, sets: ['refined'], batchSize: 4 });
    const mine = r.metrics.parts!.sets.refined!;
    assert.deepEqual(mine.consistency, core.consistency);
    assert.deepEqual(mine.stability, core.stability);
    assert.deepEqual(Object.keys(r.metrics.parts!.sets), ['refined']);
  } finally {
    await model.close();
  }
});

test('passes that read no logits run the model once per batch (no black-box run) and see the same features', async () => {
  const model = await NetworkEvaluationModel.open(fx.markers, { sets: ['refined'] });
  try {
    assert.equal(model.blackBoxSession, 'plain');
    const data = await selectImages(fx.cub.root);
    const cfg = protocolPreprocess(model.preprocess, 'strict');
    // Count the plain model's runs (the real session still runs).
    const bb = (model as unknown as { blackBox: { logits(batch: Float32Array, n: number): Promise<Float32Array> } }).blackBox;
    const plain = bb.logits.bind(bb);
    let runs = 0;
    bb.logits = (batch, n) => {
      runs++;
      return plain(batch, n);
    };
    const collect = async (blackBoxLogits: boolean) => {
      const out: { features: Float32Array; logits: Float32Array }[] = [];
      for await (const b of forwardBatches(model, data, cfg, { batchSize: 5, partsVariant: 'strict', blackBoxLogits })) out.push({ features: b.features, logits: b.logits });
      return out;
    };
    const withBlackBox = await collect(true);
    assert.equal(runs, withBlackBox.length);
    const without = await collect(false);
    assert.equal(runs, withBlackBox.length, 'no black-box run when the pass reads no logits');
    assert.equal(without.length, withBlackBox.length);
    without.forEach((b, i) => {
      assert.deepEqual(b.features, withBlackBox[i].features);
      // The adapter session's logits are the same model's: equal within float32 rounding.
      b.logits.forEach((v, j) => assert.ok(Math.abs(v - withBlackBox[i].logits[j]) <= 1e-5 * Math.max(1, Math.abs(v)), `batch ${i} logit ${j}`));
    });
  } finally {
    await model.close();
  }
});

test('consistency 0 when every map peaks at a corner far from the parts; identical prototypes exercise symmetry', async () => {
  const r = await evaluateNetwork({ net: fx.corner, data: fx.cub.root, metrics: ['consistency', 'axioms'], out: join(dir, 'corner-eval') });
  const refined = r.metrics.parts!.sets.refined!;
  assert.equal(refined.consistency.score, 0);
  // Independent bound: the corner map's peak lies in the top-left cell block, so a hit needs the part
  // within rows and columns 0 .. 7 + half. No part is there on 80% of its class's images.
  const half = r.metrics.parts!.options.halfSize;
  for (let c = 0; c < 3; c++) {
    for (let partId = 1; partId <= 3; partId++) {
      const seen = testImages().filter((im) => im.classIndex === c).map((im) => mapped(im, partId)).filter((m) => m.visible);
      const near = seen.filter((m) => m.x <= MAP - 1 + half && m.y <= MAP - 1 + half).length;
      assert.ok(near / Math.max(1, seen.length) < 0.8, `class ${c} part ${partId}: ${near} of ${seen.length} near the corner`);
    }
  }
  const maps = await readSafetensors(join(dir, 'corner-eval', 'maps.safetensors'));
  const peaks = maps.tensors.peaks_refined.data as Int32Array;
  for (const v of peaks) assert.ok(v >= 0 && v < MAP, `peak coordinate ${v} in the top-left block`);
  const sym = r.metrics.axioms!.axioms.find((a) => a.axiom === 'symmetry')!;
  assert.ok(sym.pass && sym.checks > 0, `symmetry checked ${sym.checks} identical pairs`);
});

test('deletion and insertion: ordering by the class map (the markers) beats a random order on a model whose answer is known', async () => {
  const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['deletion'], deletion: { images: 5 }, seed: 1 });
  const d = r.metrics.deletion!;
  assert.equal(d.images, 5);
  assert.equal(d.pixelsPerStep, Math.round(0.02 * SIZE * SIZE));
  assert.deepEqual(d.substrates, { deletion: 'zero', insertion: 'blur' });
  const get = (mode: string, saliency: string | number) => d.summary.find((s) => s.mode === mode && s.saliency === saliency)!;
  assert.ok(get('deletion', 'class').meanAuc < get('deletion', 'random').meanAuc - 0.3, `deletion ${get('deletion', 'class').meanAuc} vs random ${get('deletion', 'random').meanAuc}`);
  assert.ok(get('insertion', 'class').meanAuc > get('insertion', 'random').meanAuc + 0.15, `insertion ${get('insertion', 'class').meanAuc} vs ${get('insertion', 'random').meanAuc}`);
  assert.deepEqual(d.classBeatsRandom, { deletion: 1, insertion: 1 });
  assert.ok(d.perImage.every((x) => x.target === 1), 'markers make class 1 the prediction');
  // With no marker left (a black image) only the biases remain: p(class 1) = e^b1 / sum_c e^bc.
  const floor = Math.exp(BIASES[1]) / BIASES.reduce((s, b) => s + Math.exp(b), 0);
  for (const key of ['class', 'random', 0, 1, 2] as const) {
    const curve = get('deletion', key).meanCurve;
    assert.equal(curve.length, d.steps + 1);
    assert.ok(Math.abs(curve[d.steps] - floor) < 1e-4, `deletion by ${key} ends at ${curve[d.steps]}, expected ${floor}`);
  }
  assert.ok(get('deletion', 'class').meanCurve[5] < 0.2 && get('deletion', 'random').meanCurve[5] > 0.8, 'after 10% of the pixels');
  assert.ok(d.imagesPerSecond > 0 && d.perturbedPerSecond > d.imagesPerSecond);
});

test('fidelity and axioms hold on the planted network; a tampered network fails both and is reported, not thrown', async () => {
  const good = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['fidelity', 'axioms'] });
  const f = good.metrics.fidelity!;
  assert.equal(f.agreement, 1);
  assert.ok(f.maxAbsLogitDiff <= 1e-4 * 50, `max |diff| ${f.maxAbsLogitDiff}`);
  assert.equal(f.blackBox.top1, f.prototypeNetwork.top1);
  assert.equal(f.blackBox.session, 'plain');
  assert.ok(good.metrics.axioms!.pass);
  assert.deepEqual(good.metrics.axioms!.axioms.map((a) => a.axiom), ['completeness', 'linearity', 'sensitivity', 'symmetry']);
  assert.ok(good.checks.passed);

  // Tamper: move weight into prototype 0 of every class and into the stored head alike, so the
  // network still sums to its (now altered) head and loads, but no longer decomposes the model.
  const bad = await tamperedCopy(fx.markers, join(dir, 'net-tampered'));
  const r = await evaluateNetwork({ net: bad, data: fx.cub.root, metrics: ['fidelity', 'axioms'] });
  assert.equal(r.checks.passed, false);
  assert.equal(r.model.headDifference.maxAbsW, 400);
  assert.equal(r.metrics.fidelity!.pass, false);
  assert.ok(r.metrics.fidelity!.maxAbsLogitDiff > 1);
  const byName = new Map(r.metrics.axioms!.axioms.map((a) => [a.axiom, a]));
  assert.equal(byName.get('completeness')!.pass, false);
  // every image whose green marker (channel 1) is visible, for every class; the others are untouched
  const green = testImages().filter((im) => im.parts.find((q) => q.partId === 2)!.visible).length;
  assert.equal(byName.get('completeness')!.failures, green * 3);
  assert.ok(byName.get('linearity')!.pass && byName.get('sensitivity')!.pass, 'the decomposition is still linear');
  assert.match(r.checks.failures.join('\n'), /axioms: completeness fails/);
  assert.match(r.checks.failures.join('\n'), /fidelity: /);
});

test('bad input is an InputError naming the problem', async () => {
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['fidelity', 'speed' as 'fidelity'] }), /unknown metric 'speed'/);
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, model: fx.cornerModel }), /has SHA-256 [0-9a-f]{64}, but network .* was built from a model with SHA-256/);
  await assert.rejects(evaluateNetwork({ net: join(dir, 'nowhere'), data: fx.cub.root }), /not a protolens network folder/);
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, maxImages: 0 }), /maxImages: expected an integer >= 1, got 0/);
  // Degenerate protocol settings are refused, not scored (they gave 0.0, 100 or "pass" with zero checks).
  for (const halfSize of [0, 100000]) {
    await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['consistency'], parts: { halfSize } }), new RegExp(`halfSize must be an integer from 1 to \\d+ for a \\d+ x \\d+ input .*got ${halfSize}`));
  }
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['axioms'], axioms: { images: 0 } }), /axioms: images must be an integer >= 1/);
});

test('--out must be new, empty or an earlier evaluation: the network or dataset folder is refused before the run, nothing touched', async () => {
  const { readdirSync } = await import('node:fs');
  const netFiles = readdirSync(fx.markers).sort();
  const dataFiles = readdirSync(fx.cub.root).sort();
  for (const out of [fx.markers, fx.cub.root]) {
    const t0 = performance.now();
    await assert.rejects(evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['fidelity'], out }), /is not empty and is not a protolens (explanations|evaluation) folder/);
    assert.ok(performance.now() - t0 < 5000, 'refused before the run');
  }
  assert.deepEqual(readdirSync(fx.markers).sort(), netFiles);
  assert.deepEqual(readdirSync(fx.cub.root).sort(), dataFiles);
  const out = join(dir, 'eval-again');
  await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['fidelity', 'consistency'], out });
  assert.ok(readdirSync(out).includes('consistency.png'));
  const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['fidelity'], out });
  assert.equal(r.outputs?.dir, out);
  assert.ok(!readdirSync(out).includes('consistency.png'), 'the earlier run\'s plot does not outlive it');
  assert.ok(readdirSync(out).includes('evaluation.json'));
});
