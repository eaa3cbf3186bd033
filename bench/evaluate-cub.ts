/**
 * `protolens evaluate` at CUB-200-2011's test-split size: consistency and stability on 5,800 test
 * images (20 classes x 290, CUB layout with boxes and 15 part locations, drawn at 500 x 500 by the
 * parts-dataset generator, which makes at most 20 classes; per image the protocol scores only its
 * class's prototypes, so the class count changes little), a torchvision-shaped ResNet-34 (random
 * weights) at 224, a network built on the 30 x 20 training images at k = 10. Measured against two
 * plain forward passes of the model over the split (onnxruntime alone on pre-decoded batches, the
 * floor of a protocol that runs every image clean and noised). Target (issue 10): <= 2.5x.
 *
 *   node --import tsx bench/evaluate-cub.ts [--classes 20] [--test-per-class 290] [--size 500]
 *                                           [--k 10] [--threads 2]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildNetwork } from '../src/builder/build.ts';
import { generatePartsDataset } from '../src/data/synthetic/generate.ts';
import { evaluateNetwork } from '../src/evaluate/evaluate-network.ts';
import { model, ortAlone, root } from './cub-data.ts';

const { values } = parseArgs({
  options: {
    classes: { type: 'string', default: '20' },
    'test-per-class': { type: 'string', default: '290' },
    'train-per-class': { type: 'string', default: '30' },
    size: { type: 'string', default: '500' },
    k: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
  },
});
const CLASSES = Number(values.classes);
const THREADS = Number(values.threads);
const r = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

const load0 = loadavg()[0];
const t0 = performance.now();
const ds = await generatePartsDataset({
  dir: join(root, `parts-${CLASSES}x${values['test-per-class']}-${values.size}`),
  classes: CLASSES,
  trainPerClass: Number(values['train-per-class']),
  testPerClass: Number(values['test-per-class']),
  size: Number(values.size),
  seed: 3,
});
const generated = (performance.now() - t0) / 1000;
const { path: modelPath, inputName } = await model('resnet34', CLASSES);
const rate = await ortAlone(modelPath, inputName, THREADS);
const work = await mkdtemp(join(tmpdir(), 'protolens-bench-evaluate-cub-'));
try {
  const t1 = performance.now();
  await buildNetwork({ model: modelPath, data: ds.dir, out: join(work, 'net'), cache: join(work, 'cache'), decompose: { k: Number(values.k) }, exemplars: 0, ortThreads: THREADS, threads: THREADS });
  const buildSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const rep = await evaluateNetwork({ net: join(work, 'net'), data: ds.dir, threads: THREADS, metrics: ['consistency', 'stability'] });
  const evaluateSeconds = (performance.now() - t2) / 1000;
  const images = rep.dataset.evaluated;
  const twoPasses = (2 * images) / rate;
  const sets = rep.metrics.parts?.sets ?? {};
  console.log(
    JSON.stringify(
      {
        bench: 'evaluate-cub',
        dataset: { classes: CLASSES, testImages: images, size: Number(values.size), layout: 'cub', generatedSeconds: r(generated, 1), reused: ds.reused },
        model: 'resnet34 (random weights), 224',
        k: Number(values.k),
        threads: THREADS,
        ortAlone: { imagesPerSecond: r(rate, 1), twoPassesSeconds: r(twoPasses, 1) },
        buildSeconds: r(buildSeconds, 1),
        evaluate: { seconds: r(evaluateSeconds, 1), passes: rep.timing.passes.map((p) => ({ purpose: p.purpose, images: p.images, seconds: r(p.seconds, 1), imagesPerSecond: r(p.imagesPerSecond, 1) })) },
        ratioToTwoPasses: r(evaluateSeconds / twoPasses, 3),
        scores: Object.fromEntries(Object.entries(sets).map(([k, s]) => [k, { consistency: s!.consistency.score, stability: s!.stability?.score ?? null }])),
        loadAverage: [r(load0), r(loadavg()[0])],
      },
      null,
      2,
    ),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
