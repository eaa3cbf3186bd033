/**
 * Feature-extraction throughput of a ResNet-18-shaped ONNX model (random weights, torchvision layer
 * shapes) at 224 x 224: end to end from JPEG files on disk (decode, resize, normalise, infer with the
 * feature output) next to the same model fed pre-decoded tensors, in the same run, alternating,
 * medians of the repeats. Prints JSON. Target: end-to-end rate >= 80% of the pre-decoded rate.
 *
 *   node --import tsx bench/extract.ts [--images 96] [--batch 16] [--repeats 3] [--source 500x375]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadClassifier } from '../src/model/classifier.ts';
import { buildResNet18 } from '../test/helpers/synthetic-nets.ts';
import { batches } from '../src/data/batches.ts';
import { loadImage } from '../src/data/load.ts';
import { makePreprocessConfig } from '../src/data/preprocess-config.ts';
import type { ImageItem } from '../src/data/types.ts';
import { decodeModel, toNumber } from '../src/onnx/proto.ts';
import { Rng } from '../src/util/random.ts';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '96' },
    batch: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '3' },
    source: { type: 'string', default: '500x375' },
  },
});
const N = Number(values.images);
const B = Number(values.batch);
const R = Number(values.repeats);
const [SW, SH] = String(values.source).split('x').map(Number);

/** Multiply-accumulates of every Conv and Gemm, by propagating spatial sizes through the graph. */
function countMacs(modelBytes: Uint8Array, inputHW: [number, number]): number {
  const g = decodeModel(modelBytes).graph!;
  const dims = new Map<string, number[]>();
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, (t.dims ?? []).map(toNumber)]));
  dims.set(g.input![0].name!, [1, 3, ...inputHW]);
  let macs = 0;
  for (const n of g.node ?? []) {
    const x = dims.get(n.input![0]);
    const a = (name: string) => n.attribute?.find((t) => t.name === name);
    if (!x) continue;
    const ints = (name: string, d: number[]) => (a(name)?.ints?.map(toNumber) ?? d);
    if (n.opType === 'Conv' || n.opType === 'MaxPool') {
      const k = n.opType === 'Conv' ? inits.get(n.input![1])!.slice(2) : ints('kernel_shape', [1, 1]);
      const [sh, sw] = ints('strides', [1, 1]);
      const [pt, pl, pb, pr] = ints('pads', [0, 0, 0, 0]);
      const ho = Math.floor((x[2] + pt + pb - k[0]) / sh) + 1;
      const wo = Math.floor((x[3] + pl + pr - k[1]) / sw) + 1;
      const cout = n.opType === 'Conv' ? inits.get(n.input![1])![0] : x[1];
      if (n.opType === 'Conv') macs += cout * ho * wo * x[1] * k[0] * k[1];
      dims.set(n.output![0], [1, cout, ho, wo]);
    } else if (n.opType === 'GlobalAveragePool') dims.set(n.output![0], [1, x[1], 1, 1]);
    else if (n.opType === 'Flatten') dims.set(n.output![0], [1, x.slice(1).reduce((p, q) => p * q, 1)]);
    else if (n.opType === 'Gemm') {
      const w = inits.get(n.input![1])!;
      macs += w[0] * w[1];
      dims.set(n.output![0], [1, w[0]]);
    } else dims.set(n.output![0], x);
  }
  return macs;
}

/** A photo-like JPEG: smooth colour fields plus texture, so the decoder does realistic work. */
async function writeJpeg(path: string, rng: Rng): Promise<void> {
  const raw = Buffer.alloc(SW * SH * 3);
  const f = [rng.uniform(0.01, 0.05), rng.uniform(0.01, 0.05), rng.uniform(0, 6)];
  for (let y = 0; y < SH; y++) {
    for (let x = 0; x < SW; x++) {
      const o = (y * SW + x) * 3;
      const t = Math.sin(x * f[0] + f[2]) * Math.cos(y * f[1]);
      raw[o] = 128 + 100 * t + rng.uniform(-20, 20);
      raw[o + 1] = 128 + 90 * Math.sin(t * 3 + y * 0.02) + rng.uniform(-20, 20);
      raw[o + 2] = 128 - 80 * t + rng.uniform(-20, 20);
    }
  }
  await writeFile(path, await sharp(raw, { raw: { width: SW, height: SH, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = await mkdtemp(join(tmpdir(), 'protolens-bench-extract-'));
try {
  const net = buildResNet18({ seed: 1 });
  const modelPath = join(dir, 'resnet18.onnx');
  await writeFile(modelPath, net.model);
  const macs = countMacs(net.model, [224, 224]);
  const rng = new Rng(7);
  const items: ImageItem[] = [];
  for (let i = 0; i < N; i++) {
    const path = join(dir, `img${i}.jpg`);
    await writeJpeg(path, rng);
    items.push({ index: i, id: `img${i}.jpg`, path, label: 0 });
  }
  const cfg = makePreprocessConfig({ size: 224, resize: 'shorter', normalize: 'imagenet' });
  const clf = await loadClassifier(modelPath, { inputSize: 224 });

  // Pre-decoded tensors (not timed).
  const pre: Float32Array[] = [];
  for (let s = 0; s < N; s += B) {
    const n = Math.min(B, N - s);
    const t = new Float32Array(n * clf.inputLength);
    for (let j = 0; j < n; j++) await loadImage(items[s + j], cfg, { out: t, offset: j * clf.inputLength });
    pre.push(t);
  }
  await clf.run(pre[0], Math.min(B, N)); // warm-up

  const preRates: number[] = [];
  const e2eRates: number[] = [];
  let waits = 0;
  for (let r = 0; r < R; r++) {
    let t0 = performance.now();
    for (let s = 0, b = 0; s < N; s += B, b++) await clf.run(pre[b], Math.min(B, N - s));
    preRates.push(N / ((performance.now() - t0) / 1000));

    t0 = performance.now();
    const stream = batches(items, cfg, { batchSize: B });
    let seen = 0;
    for await (const batch of stream) {
      if (batch.items.length) await clf.run(batch.tensor, batch.items.length);
      seen += batch.items.length;
    }
    if (seen !== N) throw new Error(`end-to-end run saw ${seen} of ${N} images`);
    e2eRates.push(N / ((performance.now() - t0) / 1000));
    waits += stream.stats.consumerWaits;
  }
  await clf.close();
  const preRate = median(preRates);
  const e2eRate = median(e2eRates);
  const gflop = (2 * macs) / 1e9;
  console.log(
    JSON.stringify(
      {
        bench: 'extract',
        model: { name: 'resnet18-shaped (random weights)', inputSize: [224, 224], gmacsPerImage: +(macs / 1e9).toFixed(3), featureMap: [clf.features.H, clf.features.W, clf.features.D] },
        images: N,
        sourceJpeg: `${SW}x${SH}`,
        batchSize: B,
        repeats: R,
        preprocess: 'shorter side 256, centre crop 224, imagenet normalisation',
        preDecoded: { imagesPerSecond: +preRate.toFixed(2), gflopPerSecond: +(preRate * gflop).toFixed(1), runs: preRates.map((x) => +x.toFixed(2)) },
        endToEnd: { imagesPerSecond: +e2eRate.toFixed(2), gflopPerSecond: +(e2eRate * gflop).toFixed(1), runs: e2eRates.map((x) => +x.toFixed(2)), consumerWaits: waits },
        ratio: +(e2eRate / preRate).toFixed(3),
        target: 0.8,
        meetsTarget: e2eRate / preRate >= 0.8,
      },
      null,
      2,
    ),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
