/**
 * The generated data of the scale benches (bench/cub-scale.ts, bench/shard.ts), cached under
 * .cache/bench-cub-scale/: an ImageFolder of seeded 500 x 375 JPEG drawings (classes x per class) and
 * a torchvision-shaped ResNet-34 / ResNet-50 / DenseNet-121 with random weights (test/helpers/synthetic-nets.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { Rng } from '../src/util/random.ts';
import { DEFAULT_EXTRACT_BATCH } from '../src/features/extract.ts';
import { buildDenseNet121, buildResNet } from '../test/helpers/synthetic-nets.ts';

export const [W, H] = [500, 375];
export const root = resolve('.cache/bench-cub-scale');

/** du -sb */
export function bytesOf(p: string): number {
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((s, n) => s + bytesOf(join(p, n)), 0);
}

/** A 500 x 375 drawing: a smooth background and a few ellipses whose colours depend on the class. */
export async function drawing(c: number, j: number): Promise<Buffer> {
  const rng = new Rng(c * 100_003 + j);
  const cls = new Rng(c);
  const palette = Array.from({ length: 3 }, () => [cls.int(256), cls.int(256), cls.int(256)]);
  const data = Buffer.alloc(W * H * 3);
  const g = [rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.4), rng.uniform(40, 120)];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const o = (y * W + x) * 3;
    data[o] = g[2] + x * g[0] * 0.3;
    data[o + 1] = g[2] + y * g[1] * 0.3;
    data[o + 2] = g[2] + (x + y) * 0.1;
  }
  for (let e = 0; e < 5; e++) {
    const [cx, cy, rx, ry] = [rng.uniform(0, W), rng.uniform(0, H), rng.uniform(20, 90), rng.uniform(20, 90)];
    const col = palette[e % 3];
    for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(H, cy + ry); y++) for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(W, cx + rx); x++) {
      if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 > 1) continue;
      const o = (y * W + x) * 3;
      data[o] = col[0];
      data[o + 1] = col[1];
      data[o + 2] = col[2];
    }
  }
  return sharp(data, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** The ImageFolder of `classes` x `perClass` drawings (generated once). */
export async function dataset(CLASSES: number, PER_CLASS: number): Promise<string> {
  const dir = join(root, `data-${CLASSES}x${PER_CLASS}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  await rm(dir, { recursive: true, force: true });
  for (let c = 0; c < CLASSES; c++) {
    const cdir = join(dir, `${String(c + 1).padStart(3, '0')}.class_${c}`);
    await mkdir(cdir, { recursive: true });
    for (let j = 0; j < PER_CLASS; j++) await writeFile(join(cdir, `img_${String(j).padStart(4, '0')}.jpg`), await drawing(c, j));
  }
  await writeFile(join(dir, '.complete'), '');
  return dir;
}

/** The model shapes the scale benches build (torchvision's layer shapes, random weights). */
export const BENCH_MODELS = ['resnet34', 'resnet50', 'densenet121'] as const;
export type BenchModel = (typeof BENCH_MODELS)[number];

/** The ONNX model of that shape with `classes` outputs (written once). */
export async function model(MODEL: BenchModel, CLASSES: number): Promise<{ path: string; inputName: string }> {
  const path = join(root, `${MODEL}-${CLASSES}.onnx`);
  if (!existsSync(path)) {
    await mkdir(root, { recursive: true });
    const net = MODEL === 'densenet121' ? buildDenseNet121({ numClasses: CLASSES }) : buildResNet(MODEL === 'resnet50' ? 50 : 34, { numClasses: CLASSES });
    await writeFile(path, net.model);
  }
  return { path, inputName: 'input' };
}

/** onnxruntime alone: the model in its own session fed pre-decoded batches of the build's size (32); images/s, median of 5 rounds. */
export async function ortAlone(path: string, inputName: string, threads: number): Promise<number> {
  const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const B = DEFAULT_EXTRACT_BATCH;
  const rng = new Rng(0);
  const x = Float32Array.from({ length: B * 3 * 224 * 224 }, () => rng.normal());
  const feed = { [inputName]: new ort.Tensor('float32', x, [B, 3, 224, 224]) };
  for (let i = 0; i < 2; i++) await session.run(feed);
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    await session.run(feed);
    rates.push(B / ((performance.now() - t) / 1000));
  }
  await session.release();
  rates.sort((a, b) => a - b);
  return rates[2];
}
