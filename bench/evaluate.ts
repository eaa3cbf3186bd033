/**
 * `protolens evaluate` at demo scale: the synthetic parts dataset (15 classes, 50 test images each,
 * 96 x 96, CUB layout), the demo CNN (models/demo-cnn.onnx: 64 x 64 input, 8 x 8 x 128 features; a
 * random-weight ResNet-like stand-in of the same map size when the file is absent), a network built
 * with the real build (k = 3, no exemplars), then every metric with the defaults (deletion/insertion
 * on 50 images), then once more without deletion/insertion. Prints JSON: build and evaluation times,
 * each pass's images/s, deletion/insertion images/s and perturbed images/s, and the scores.
 *
 *   node --import tsx bench/evaluate.ts [--data .cache/parts-dataset] [--model models/demo-cnn.onnx]
 *     [--deletion-images 50] [--threads N] [--work DIR (kept)]
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildNetwork } from '../src/builder/build.ts';
import { generatePartsDataset } from '../src/data/synthetic/generate.ts';
import { evaluateNetwork } from '../src/evaluate/evaluate-network.ts';
import { buildResNetLike } from '../test/helpers/synthetic-nets.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '.cache/parts-dataset' },
    model: { type: 'string', default: 'models/demo-cnn.onnx' },
    'deletion-images': { type: 'string', default: '50' },
    threads: { type: 'string' },
    work: { type: 'string' },
  },
});

const work = values.work ?? (await mkdtemp(join(tmpdir(), 'protolens-bench-evaluate-')));
try {
  const t0 = performance.now();
  const ds = await generatePartsDataset({ dir: String(values.data) });
  const tData = (performance.now() - t0) / 1000;

  let model = String(values.model);
  const synthetic = !existsSync(model);
  let preprocess: Record<string, unknown> = { cropToBox: true, resize: 'stretch', normalize: 'half' };
  if (synthetic) {
    model = join(work, 'stand-in.onnx');
    await writeFile(model, buildResNetLike({ seed: 1, inputSize: 64, numClasses: ds.classes.length, stemChannels: 16, stageChannels: [32, 64, 128] }).model);
  } else {
    const record = model.replace(/\.onnx$/, '.json');
    if (existsSync(record)) {
      const p = JSON.parse(readFileSync(record, 'utf8')).preprocess;
      preprocess = { cropToBox: p.cropToBox, resize: p.resize, interpolation: p.interpolation, normalize: p.normalize, mean: p.mean, std: p.std };
    }
  }
  const threads = values.threads !== undefined ? Number(values.threads) : undefined;

  const t1 = performance.now();
  await buildNetwork({ model, data: ds.dir, out: join(work, 'net'), cache: join(work, 'cache'), preprocess, decompose: { k: 3 }, exemplars: 0, ...(threads ? { ortThreads: threads } : {}) });
  const tBuild = (performance.now() - t1) / 1000;

  const t2 = performance.now();
  const r = await evaluateNetwork({ net: join(work, 'net'), data: ds.dir, out: join(work, 'eval'), threads, deletion: { images: Number(values['deletion-images']) } });
  const tEval = (performance.now() - t2) / 1000;
  // The same without deletion/insertion: what the one shared pass costs for the other metrics.
  const t3 = performance.now();
  const rest = await evaluateNetwork({ net: join(work, 'net'), data: ds.dir, threads, metrics: ['fidelity', 'consistency', 'stability', 'axioms'] });
  const tRest = (performance.now() - t3) / 1000;

  const parts = r.metrics.parts;
  const del = r.metrics.deletion;
  const auc = (mode: 'deletion' | 'insertion', s: 'class' | 'random') => del?.summary.find((x) => x.mode === mode && x.saliency === s)?.meanAuc ?? null;
  process.stdout.write(
    JSON.stringify(
      {
        model: { path: model, synthetic, sha256: r.model.sha256 },
        dataset: { dir: ds.dir, reused: ds.reused, seconds: tData, testImages: r.dataset.evaluated },
        buildSeconds: tBuild,
        evaluateSeconds: tEval,
        passes: r.timing.passes,
        withoutDeletion: { seconds: tRest, passes: rest.timing.passes },
        sharedPass: r.preprocess.sharedPass,
        deletion: del && {
          images: del.images,
          seconds: del.seconds,
          imagesPerSecond: del.imagesPerSecond,
          perturbedPerSecond: del.perturbedPerSecond,
          steps: del.steps,
          auc: { deletion: { class: auc('deletion', 'class'), random: auc('deletion', 'random') }, insertion: { class: auc('insertion', 'class'), random: auc('insertion', 'random') } },
          classBeatsRandom: del.classBeatsRandom,
        },
        fidelity: r.metrics.fidelity && {
          top1: r.metrics.fidelity.blackBox.top1,
          top5: r.metrics.fidelity.blackBox.top5,
          agreement: r.metrics.fidelity.agreement,
          maxAbsLogitDiff: r.metrics.fidelity.maxAbsLogitDiff,
        },
        consistency: parts && Object.fromEntries(Object.entries(parts.sets).map(([k, s]) => [k, { consistency: s!.consistency.score, stability: s!.stability?.score ?? null }])),
        axioms: r.metrics.axioms?.axioms.map((a) => ({ axiom: a.axiom, pass: a.pass, worstError: a.worstError })),
        checksPassed: r.checks.passed,
        out: values.work !== undefined ? join(work, 'eval') : null,
      },
      null,
      2,
    ) + '\n',
  );
} finally {
  if (values.work === undefined) await rm(work, { recursive: true, force: true });
}
