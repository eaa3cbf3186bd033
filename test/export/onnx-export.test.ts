// exportExplainedModel on the explain fixture (small ResNet-like ONNX model, network whose prototypes
// are a seeded split of each head row): the exported model runs in onnxruntime and is compared with
// the original model and with the Explainer's decomposition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadImage } from '../../src/data/load.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { buildHeadModel, type HeadModel, type HeadModelSpec } from '../helpers/head-models.ts';
import { NETWORK_SCHEMA, loadNetwork, saveNetwork, type NetworkManifest } from '../../src/network/artifact.ts';
import { Explainer } from '../../src/explain/explain.ts';
import { exportExplainedModel, EXPORT_SCHEMA } from '../../src/export/onnx-export.ts';
import { decodeModel } from '../../src/onnx/proto.ts';
import { CheckError, InputError, UsageError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';
import { CLASS_NAMES, K, SIZE, makeExplainFixture, splitHead, type ExplainFixture } from '../explain/explain-fixture.ts';

const C = CLASS_NAMES.length;
let fx: ExplainFixture;
let out: string;
before(async () => {
  fx = await makeExplainFixture(await mkdtemp(join(tmpdir(), 'protolens-export-')));
  out = join(fx.root, 'exported');
  await mkdir(out);
});
after(async () => {
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

/** Real images (PNG/JPEG through sharp) plus one seeded random-normal input: n x 3 x 32 x 32. */
async function inputs(): Promise<{ x: Float32Array; n: number }> {
  const per = 3 * SIZE * SIZE;
  const n = fx.images.length + 1;
  const x = new Float32Array(n * per);
  for (let j = 0; j < fx.images.length; j++) x.set((await loadImage({ id: fx.images[j], path: fx.images[j] }, fx.preprocess)).tensor, j * per);
  const rng = new Rng(11);
  for (let i = fx.images.length * per; i < x.length; i++) x[i] = rng.normal();
  return { x, n };
}

async function runModel(path: string, x: Float32Array, n: number): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path);
  try {
    return await s.run({ [fx.inputName]: new ort.Tensor('float32', x, [n, 3, SIZE, SIZE]) });
  } finally {
    await s.release();
  }
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

test('heatmaps all: logits equal the original, contributions and heatmaps equal the Explainer, completeness holds', async () => {
  const path = join(out, 'all.onnx');
  const r = await exportExplainedModel({ net: fx.netDir, out: path });
  assert.equal(r.path, path);
  assert.equal(r.heatmaps, 'all');
  assert.equal(r.residual, false);
  assert.equal(r.names.residualContribution, null);
  assert.equal(r.check.batch, 2);
  assert.ok(r.check.completenessRelError <= 1e-4);
  assert.deepEqual(r.outputs.map((o) => o.name), ['logits', 'contributions', 'bias', 'heatmaps']);

  const { x, n } = await inputs();
  const orig = await runModel(fx.modelPath, x, n);
  const exp = await runModel(path, x, n);
  // The original outputs are still there, and the logits are the model's own.
  const origLogits = orig[fx.logitsName].data as Float32Array;
  assert.deepEqual(exp[fx.logitsName].dims, orig[fx.logitsName].dims);
  const logits = exp.logits.data as Float32Array;
  assert.deepEqual(exp.logits.dims, [n, C]);
  for (let i = 0; i < n * C; i++) assert.ok(close(logits[i], origLogits[i], 1e-6), `logit ${i}: ${logits[i]} vs ${origLogits[i]}`);

  const contributions = exp.contributions.data as Float32Array;
  const heatmaps = exp.heatmaps.data as Float32Array;
  const bias = exp.bias.data as Float32Array;
  assert.deepEqual(exp.contributions.dims, [n, C, K]);
  assert.deepEqual(exp.heatmaps.dims, [n, C, K, 8, 8]);
  assert.deepEqual(exp.bias.dims, [C]);

  // Completeness for every class of every input.
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < C; c++) {
      let s = bias[c];
      for (let i = 0; i < K; i++) s += contributions[(j * C + c) * K + i];
      assert.ok(close(s, logits[j * C + c], 1e-4), `image ${j} class ${c}: ${s} vs ${logits[j * C + c]}`);
    }
  }
  // Each heatmap's mean is its contribution (layout check of the 5-D output).
  for (let j = 0; j < n; j++) {
    for (let t = 0; t < C * K; t++) {
      let s = 0;
      for (let p = 0; p < 64; p++) s += heatmaps[(j * C * K + t) * 64 + p];
      assert.ok(close(s / 64, contributions[j * C * K + t], 1e-5));
    }
  }

  // The Explainer's numbers, for every class (so every block of the outputs is compared).
  const ex = await Explainer.open(fx.netDir, { boxes: false });
  try {
    for (let c = 0; c < C; c++) {
      const es = await ex.explainTensor(x, n, { classIndex: c });
      for (let j = 0; j < n; j++) {
        const e = es[j].explained;
        assert.equal(e.bias, bias[c]);
        for (let i = 0; i < K; i++) {
          const got = contributions[(j * C + c) * K + i];
          assert.ok(close(got, e.prototypes[i].contribution, 1e-5), `image ${j} class ${c} prototype ${i}: ${got} vs ${e.prototypes[i].contribution}`);
          const hm = e.prototypes[i].heatmap;
          const base = ((j * C + c) * K + i) * 64;
          let maxAbs = 0;
          for (let p = 0; p < 64; p++) maxAbs = Math.max(maxAbs, Math.abs(hm[p]));
          for (let p = 0; p < 64; p++) assert.ok(Math.abs(heatmaps[base + p] - hm[p]) <= 1e-5 * Math.max(1, maxAbs), `heatmap ${j}/${c}/${i} at ${p}`);
        }
      }
    }
  } finally {
    await ex.close();
  }

  // Metadata: schema, class names, k, source hash, bias.
  const m = decodeModel(await readFile(path));
  const meta = Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value]));
  assert.equal(meta['protolens.schema'], EXPORT_SCHEMA);
  assert.deepEqual(JSON.parse(meta['protolens.class_names']!), CLASS_NAMES);
  assert.equal(meta['protolens.k'], String(K));
  assert.equal(meta['protolens.network_schema'], 'protolens.network@1');
  const manifest = JSON.parse(await readFile(join(fx.netDir, 'manifest.json'), 'utf8'));
  assert.equal(meta['protolens.source_sha256'], manifest.model.sha256);
  assert.deepEqual(JSON.parse(meta['protolens.bias']!), Array.from(bias));
  // The original graph is a prefix of the exported one.
  const src = decodeModel(await readFile(fx.modelPath));
  assert.deepEqual(m.graph!.node!.slice(0, src.graph!.node!.length).map((x) => x.name), src.graph!.node!.map((x) => x.name));
});

test('heatmaps top: heatmaps of the argmax class only; heatmaps none: no heatmap output', async () => {
  const topPath = join(out, 'top.onnx');
  const r = await exportExplainedModel({ net: fx.netDir, out: topPath, heatmaps: 'top' });
  assert.equal(r.names.explainedClass, 'explained_class');
  const { x, n } = await inputs();
  const top = await runModel(topPath, x, n);
  const all = await runModel(join(out, 'all.onnx'), x, n);
  assert.deepEqual(top.heatmaps.dims, [n, K, 8, 8]);
  const cls = top.explained_class.data as BigInt64Array;
  const logits = top.logits.data as Float32Array;
  const hTop = top.heatmaps.data as Float32Array;
  const hAll = all.heatmaps.data as Float32Array;
  for (let j = 0; j < n; j++) {
    // argmax computed here, independently.
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[j * C + c] > logits[j * C + best]) best = c;
    assert.equal(Number(cls[j]), best);
    for (let i = 0; i < K; i++) {
      for (let p = 0; p < 64; p++) {
        const a = hTop[(j * K + i) * 64 + p];
        const b = hAll[((j * C + best) * K + i) * 64 + p];
        assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `image ${j} prototype ${i} position ${p}: ${a} vs ${b}`);
      }
    }
  }
  const nonePath = join(out, 'none.onnx');
  const rn = await exportExplainedModel({ net: fx.netDir, out: nonePath, heatmaps: 'none' });
  assert.deepEqual(rn.outputs.map((o) => o.name), ['logits', 'contributions', 'bias']);
  const none = await runModel(nonePath, x, n);
  assert.equal(none.heatmaps, undefined);
  assert.deepEqual(Array.from(none.contributions.data as Float32Array), Array.from(all.contributions.data as Float32Array));
  assert.ok((await stat(nonePath)).size < (await stat(join(out, 'all.onnx'))).size);
});

test('allocator none: residual_contribution completes the sum and equals the Explainer residual term', async () => {
  const path = join(out, 'residual.onnx');
  const r = await exportExplainedModel({ net: fx.residualNetDir, out: path });
  assert.equal(r.residual, true);
  assert.equal(r.names.residualContribution, 'residual_contribution');
  assert.equal(r.metadata['protolens.residual'], 'residual_contribution');
  const { x, n } = await inputs();
  const o = await runModel(path, x, n);
  const logits = o.logits.data as Float32Array;
  const contributions = o.contributions.data as Float32Array;
  const resid = o.residual_contribution.data as Float32Array;
  const bias = o.bias.data as Float32Array;
  assert.deepEqual(o.residual_heatmaps.dims, [n, C, 8, 8]);
  let residualMatters = false;
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < C; c++) {
      let s = bias[c];
      for (let i = 0; i < K; i++) s += contributions[(j * C + c) * K + i];
      if (!close(s, logits[j * C + c], 1e-3)) residualMatters = true;
      assert.ok(close(s + resid[j * C + c], logits[j * C + c], 1e-4));
    }
  }
  assert.ok(residualMatters, 'the residual term carries part of the logit');
  const ex = await Explainer.open(fx.residualNetDir, { boxes: false });
  try {
    const es = await ex.explainTensor(x, n);
    for (let j = 0; j < n; j++) {
      const e = es[j].explained;
      assert.ok(e.residual);
      assert.ok(close(resid[j * C + e.index], e.residual.contribution, 1e-5));
    }
  } finally {
    await ex.close();
  }
});

test('a model with another SHA-256 is an InputError naming both hashes; bad options are refused', async () => {
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: join(out, 'x.onnx'), model: fx.otherModelPath }), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.match(e.message, /has SHA-256 [0-9a-f]{64}, but network .* SHA-256 [0-9a-f]{64}/);
    return true;
  });
  // A copy of the right model elsewhere is accepted.
  const copy = join(out, 'copy-of-model.onnx');
  await copyFile(fx.modelPath, copy);
  const r = await exportExplainedModel({ net: fx.netDir, out: join(out, 'from-copy.onnx'), model: copy, heatmaps: 'none' });
  assert.equal(r.sourceModel, copy);
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: join(out, 'y.onnx'), heatmaps: 'some' as never }), UsageError);
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out }), (e: unknown) => e instanceof InputError && /is a directory/.test(e.message));
  await assert.rejects(exportExplainedModel({ net: join(fx.root, 'nowhere'), out: join(out, 'z.onnx') }), InputError);
  await assert.rejects(stat(join(out, 'x.onnx')));
});

test('an output that is an input is refused and nothing is touched: the source model, the manifest, the tensors, exemplars, a file protolens did not write', async () => {
  const { symlink } = await import('node:fs/promises');
  const before = async (p: string) => readFile(p);
  const model = await before(fx.modelPath);
  const manifest = await before(join(fx.netDir, 'manifest.json'));
  const tensors = await before(join(fx.netDir, 'prototypes.safetensors'));
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: fx.modelPath }), (e: unknown) => e instanceof InputError && /is the model the network was built from/.test(e.message));
  const link = join(out, 'link-to-model.onnx');
  await symlink(fx.modelPath, link);
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: link }), (e: unknown) => e instanceof InputError && /is the model the network was built from/.test(e.message), 'through a symbolic link too');
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: join(fx.netDir, 'manifest.json') }), (e: unknown) => e instanceof InputError && /is part of network .* \(manifest\.json\)/.test(e.message));
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: join(fx.netDir, 'prototypes.safetensors') }), (e: unknown) => e instanceof InputError && /\(prototypes\.safetensors\)/.test(e.message));
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: join(fx.netDir, 'exemplars', 'x.onnx') }), (e: unknown) => e instanceof InputError && /\(exemplars\)/.test(e.message));
  const mine = join(out, 'mine.onnx');
  await writeFile(mine, 'my notes');
  await assert.rejects(exportExplainedModel({ net: fx.netDir, out: mine }), (e: unknown) => e instanceof InputError && /exists and is not a model protolens exported/.test(e.message));
  assert.equal(await readFile(mine, 'utf8'), 'my notes');
  assert.ok((await before(fx.modelPath)).equals(model) && (await before(join(fx.netDir, 'manifest.json'))).equals(manifest) && (await before(join(fx.netDir, 'prototypes.safetensors'))).equals(tensors));
  await loadNetwork(fx.netDir);
  // A previous export is replaced, and a new file inside the network folder is fine.
  const again = join(out, 'again.onnx');
  await exportExplainedModel({ net: fx.netDir, out: again, heatmaps: 'none' });
  await exportExplainedModel({ net: fx.netDir, out: again, heatmaps: 'none' });
  const inside = join(fx.netDir, 'explained.onnx');
  await exportExplainedModel({ net: fx.netDir, out: inside, heatmaps: 'none' });
  await rm(inside);
});

test('prototypes that do not sum to the head are caught by the verification run (CheckError, nothing written)', async () => {
  const net = await loadNetwork(fx.netDir);
  const bad = { ...net, prototypes: Float32Array.from(net.prototypes, (v, i) => (i % 7 === 0 ? v + 0.5 : v)) };
  const path = join(out, 'bad.onnx');
  await assert.rejects(exportExplainedModel({ net: bad, out: path }), (e: unknown) => e instanceof CheckError && /contributions \+ bias/.test(e.message));
  await assert.rejects(stat(path));
});

// ---- Other heads and layouts: NHWC maps, tokens, opset 18, logits not named `logits` (or not an
// output at all), a fixed batch, a dynamic input size. Expected values are computed here from the
// classifier adapter's features (n x HW x D) and the network's prototypes by plain loops.

interface HeadCase {
  name: string;
  spec: HeadModelSpec;
  /** Run the exported model at this input size instead of the network's. */
  runAt?: [number, number];
}

async function headNetwork(hc: HeadCase): Promise<{ dir: string; modelPath: string; hm: HeadModel; C: number; D: number }> {
  const dir = join(fx.root, `head-${hc.name}`);
  await mkdir(dir, { recursive: true });
  const hm = buildHeadModel(hc.spec);
  const modelPath = join(dir, 'model.onnx');
  await writeFile(modelPath, hm.model);
  const size = hc.spec.inputSize ?? [6, 5];
  const preprocess = makePreprocessConfig({ size, layout: hc.spec.layout === 'NHWC' ? 'NHWC' : 'NCHW' });
  const clf = await loadClassifier(modelPath, { inputSize: size });
  const C = clf.head.numClasses, D = clf.head.featureDim;
  const { H, W } = clf.features;
  const headWeight = Float32Array.from(clf.head.W);
  const bias = Float32Array.from(clf.head.b);
  const manifest: NetworkManifest = {
    schema: NETWORK_SCHEMA,
    schemaVersion: 1,
    generator: { name: 'protolens', version: 'test' },
    model: { path: 'model.onnx', sha256: clf.sha256, inputName: clf.input.name, featureTensor: clf.features.tensor, logitsOutput: clf.logitsOutput },
    input: { height: size[0], width: size[1] },
    featureMap: { height: H, width: W, channels: D, nonNegative: true },
    preprocess,
    dataset: { root: '.', format: 'imagefolder', split: 'all', maxImagesPerClass: null },
    classNames: Array.from({ length: C }, (_, c) => `class ${c}`),
    k: K,
    options: { allocator: 'uniform' },
    seed: 5,
    classes: [],
    failures: [],
    exemplars: null,
    tensors: 'prototypes.safetensors',
  };
  await clf.close();
  const { prototypes, residualTerm } = splitHead(headWeight, C, D, K, 5);
  await saveNetwork(dir, manifest, { prototypes, initialPrototypes: prototypes.map(Math.abs), alpha: new Float32Array(C * K).fill(1), residualTerm, headWeight, bias });
  return { dir, modelPath, hm, C, D };
}

const HEAD_CASES: HeadCase[] = [
  { name: 'nhwc-opset18', spec: { layout: 'NHWC', pooling: 'ReduceMean', axesAs: 'input', seed: 2 } },
  { name: 'tokens', spec: { layout: 'NTD', seed: 3, linear: { op: 'MatMul', bias: true } } },
  { name: 'softmax-only', spec: { seed: 4, softmaxOutput: true, logitsIsOutput: false, between: [{ op: 'Flatten' }] } },
  { name: 'batch-1', spec: { seed: 6, batch: 1, between: [{ op: 'Flatten' }] } },
  { name: 'dynamic-size', spec: { seed: 7, dynamicSpatial: true, between: [{ op: 'Flatten' }] }, runAt: [8, 7] },
];

for (const hc of HEAD_CASES) {
  test(`head ${hc.name}: exported contributions and heatmaps equal the plain-loop decomposition of the adapter's features`, async () => {
    const { dir, modelPath, hm, C, D } = await headNetwork(hc);
    const net = await loadNetwork(dir);
    const size = hc.runAt ?? hc.spec.inputSize ?? [6, 5];
    const clf = await loadClassifier(modelPath, { inputSize: size });
    const { H, W, HW } = clf.features;
    const n = clf.maxBatch ?? 3;
    const rng = new Rng(21);
    const x = Float32Array.from({ length: n * clf.inputLength }, () => rng.normal());
    const ref = await clf.run(x, n);
    await clf.close();
    for (const mode of ['all', 'top'] as const) {
      const path = join(dir, `exported-${mode}.onnx`);
      const r = await exportExplainedModel({ net: dir, out: path, heatmaps: mode });
      assert.ok(r.check.completenessRelError <= 1e-4);
      const s = await ort.InferenceSession.create(path);
      const dims = hc.spec.layout === 'NHWC' ? [n, size[0], size[1], 3] : [n, 3, size[0], size[1]];
      const o = await s.run({ [hm.inputName]: new ort.Tensor('float32', x, dims) });
      await s.release();
      const logits = o[r.names.logits].data as Float32Array;
      for (let i = 0; i < n * C; i++) assert.ok(close(logits[i], ref.logits[i], 1e-6), `logit ${i}`);
      const contributions = o[r.names.contributions].data as Float32Array;
      const heat = o[r.names.heatmaps!];
      assert.deepEqual(heat.dims, mode === 'all' ? [n, C, K, H, W] : [n, K, H, W]);
      const hd = heat.data as Float32Array;
      const cls = mode === 'top' ? (o[r.names.explainedClass!].data as BigInt64Array) : null;
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < C; c++) {
          let sum = net.bias[c];
          for (let i = 0; i < K; i++) {
            let mean = 0;
            for (let p = 0; p < HW; p++) {
              let v = 0;
              for (let d = 0; d < D; d++) v += ref.features[(j * HW + p) * D + d] * net.prototypes[(c * K + i) * D + d];
              mean += v / HW;
              const at = mode === 'all' ? (((j * C + c) * K + i) * HW + p) : Number(cls![j]) === c ? (j * K + i) * HW + p : -1;
              if (at >= 0) assert.ok(close(hd[at], v, 1e-5), `${mode} heatmap ${j}/${c}/${i} at ${p}: ${hd[at]} vs ${v}`);
            }
            assert.ok(close(contributions[(j * C + c) * K + i], mean, 1e-5), `contribution ${j}/${c}/${i}`);
            sum += mean;
          }
          assert.ok(close(sum, ref.logits[j * C + c], 1e-4));
        }
      }
    }
  });
}
