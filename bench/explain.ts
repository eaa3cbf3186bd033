/**
 * Cost of an explanation next to one plain forward pass, on a ResNet-18-shaped ONNX model (random
 * weights, torchvision layer shapes, 1000 classes, 224 x 224) and a network for it whose prototypes
 * split each head row uniformly into k parts (the numbers do not matter here, the cost does).
 *
 * Measured in the same process, alternating, medians over the rounds:
 * - plain: the unmodified model in its own onnxruntime session, one preprocessed image;
 * - explain: `Explainer.explainTensor` on the same tensor (features + logits in one run, k heatmaps,
 *   contributions, completeness check, k strongest-region boxes), no rendering;
 * - the pieces of the explanation after the run (heatmaps and contributions; boxes);
 * - from a JPEG file: decode + preprocess alone, and `explainImage` end to end;
 * - rendering one image's pictures and card (overlays, combined view, card), separately.
 * Batch 8 is measured the same way (per image). Prints JSON. Target: explain <= 1.2 x plain.
 * On a shared machine single timings vary a lot; `medianRoundRatio` (explain / plain within each
 * round, order alternating), `fastestRatio` (fastest explain / fastest plain, the least disturbed
 * runs) and `afterRunOverPlain` are the steadier figures.
 *
 *   node --import tsx bench/explain.ts [--rounds 15] [--k 3] [--threads 2]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { loadImage } from '../src/data/load.ts';
import { rankClasses, softmax, termMaps } from '../src/network/contributions.ts';
import { Explainer } from '../src/explain/explain.ts';
import { PictureWriter } from '../src/explain/report.ts';
import { strongestRegion } from '../src/pictures/strongest-region.ts';
import { buildResNet18 } from '../test/helpers/synthetic-nets.ts';
import { writeUniformNetwork } from '../test/helpers/uniform-network.ts';
import { Rng } from '../src/util/random.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, k: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' } } });
const ROUNDS = Number(values.rounds);
const K = Number(values.k);
const THREADS = Number(values.threads);
const SEED = 0;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
async function timed(f: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

const dir = await mkdtemp(join(tmpdir(), 'protolens-bench-explain-'));
try {
  const load0 = loadavg()[0];
  const net = buildResNet18({ seed: SEED });
  const { netDir, preprocess, C, D, H, W } = await writeUniformNetwork(dir, 'resnet18', net, K, THREADS, SEED);

  const ex = await Explainer.open(netDir, { threads: THREADS });
  const plain = await ort.InferenceSession.create(net.model, { executionProviders: ['cpu'], intraOpNumThreads: THREADS, graphOptimizationLevel: 'all' });
  const rng = new Rng(SEED);
  const len = 3 * 224 * 224;
  const x8 = Float32Array.from({ length: 8 * len }, () => rng.normal());
  const x1 = x8.subarray(0, len);
  const runPlain = (x: Float32Array, n: number) => plain.run({ [net.inputName]: new ort.Tensor('float32', x, [n, 3, 224, 224]) });

  // A real JPEG (500 x 375, smooth structure) for the end-to-end path.
  const jpeg = join(dir, 'photo.jpg');
  const raw = Buffer.alloc(500 * 375 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (Math.floor(i / 3) % 500) * 0.4 + ((i % 3) * 60 + Math.floor(i / 1500) * 0.5) % 120;
  await writeFile(jpeg, await sharp(raw, { raw: { width: 500, height: 375, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());

  // Warm up both sessions and the file path.
  for (let i = 0; i < 2; i++) {
    await runPlain(x1, 1);
    await ex.explainTensor(x1, 1);
    await ex.explainImage(jpeg);
  }

  const t = { plain: [] as number[], explain: [] as number[], run: [] as number[], maps: [] as number[], boxes: [] as number[], decode: [] as number[], fromJpeg: [] as number[] };
  const pairRatio: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order within a round so neither side always runs first after other work.
    if (r % 2 === 0) {
      t.plain.push(await timed(() => runPlain(x1, 1)));
      t.explain.push(await timed(() => ex.explainTensor(x1, 1)));
    } else {
      t.explain.push(await timed(() => ex.explainTensor(x1, 1)));
      t.plain.push(await timed(() => runPlain(x1, 1)));
    }
    pairRatio.push(t.explain[r] / t.plain[r]);
    let out: Awaited<ReturnType<typeof ex.classifier.run>> | undefined;
    t.run.push(await timed(async () => (out = await ex.classifier.run(x1, 1))));
    const feats = out!.features;
    const c = rankClasses(out!.logits)[0];
    let maps: Float32Array | undefined;
    t.maps.push(await timed(() => {
      softmax(out!.logits);
      maps = termMaps(feats, H * W, D, ex.network.prototypes.subarray(c * K * D, (c + 1) * K * D), K).maps;
    }));
    t.boxes.push(await timed(() => {
      for (let i = 0; i < K; i++) strongestRegion(maps!.subarray(i * H * W, (i + 1) * H * W), H, W, 224, 224);
    }));
    t.decode.push(await timed(() => loadImage({ id: jpeg, path: jpeg }, preprocess)));
    t.fromJpeg.push(await timed(() => ex.explainImage(jpeg)));
  }

  const b8 = { plain: [] as number[], explain: [] as number[], ratio: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    const first = r % 2 === 0;
    const a = first ? (await timed(() => runPlain(x8, 8))) / 8 : 0;
    const e = (await timed(() => ex.explainTensor(x8, 8))) / 8;
    const p = first ? a : (await timed(() => runPlain(x8, 8))) / 8;
    b8.plain.push(p);
    b8.explain.push(e);
    b8.ratio.push(e / p);
  }

  // Rendering: one image's overlays, combined view and card.
  const shown = await ex.explainImage(jpeg, { keepRgb: true });
  const writer = await PictureWriter.create(ex, join(dir, 'out'));
  const render: number[] = [];
  for (let r = 0; r < Math.max(3, Math.round(ROUNDS / 3)); r++) render.push(await timed(() => writer.write(shown)));

  const plainMs = median(t.plain);
  const explainMs = median(t.explain);
  const result = {
    bench: 'explain',
    model: { shape: 'ResNet-18 (torchvision layer shapes, random weights)', classes: C, input: [224, 224], featureMap: [H, W, D], parameters: net.parameters },
    k: K,
    threads: THREADS,
    rounds: ROUNDS,
    loadAverageAtStart: round(load0),
    loadAverageAtEnd: round(loadavg()[0]),
    batch1: {
      plainForwardMs: round(plainMs),
      explainMs: round(explainMs),
      ratio: round(explainMs / plainMs, 3),
      medianRoundRatio: round(median(pairRatio), 3),
      fastestRatio: round(Math.min(...t.explain) / Math.min(...t.plain), 3),
      target: 1.2,
      featuresAndLogitsRunMs: round(median(t.run)),
      heatmapsContributionsMs: round(median(t.maps), 3),
      boxesMs: round(median(t.boxes), 3),
      /** The work after the run, which does not depend on the machine's load as the convolutions do. */
      afterRunOverPlain: round((median(t.maps) + median(t.boxes)) / plainMs, 4),
    },
    batch8PerImage: {
      plainForwardMs: round(median(b8.plain)),
      explainMs: round(median(b8.explain)),
      ratio: round(median(b8.explain) / median(b8.plain), 3),
      medianRoundRatio: round(median(b8.ratio), 3),
      fastestRatio: round(Math.min(...b8.explain) / Math.min(...b8.plain), 3),
    },
    fromJpeg500x375: { decodePreprocessMs: round(median(t.decode)), explainImageMs: round(median(t.fromJpeg)) },
    renderingPerImageMs: { overlaysCombinedCard: round(median(render)), prototypes: K },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  await ex.close();
  await plain.release();
} finally {
  await rm(dir, { recursive: true, force: true });
}
