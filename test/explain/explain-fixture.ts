/**
 * Fixture for explain tests: a small ResNet-like ONNX model (3 x 32 x 32 input, 8 x 8 x 16 features,
 * 10 classes), a network folder for it whose prototypes are a seeded random split of each head row
 * that sums to it exactly, real exemplar pictures made by the exemplar code from a few generated
 * training images, and test images (PNG, JPEG, and an undecodable file).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { makePreprocessConfig, type PreprocessConfig } from '../../src/data/preprocess-config.ts';
import { type ImageItem } from '../../src/data/types.ts';
import { loadImage } from '../../src/data/load.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { ExemplarScorer, renderClassExemplars, writeExemplarFiles } from '../../src/builder/exemplars.ts';
import { exemplarIndexHeader, writeExemplarIndex, EXEMPLAR_INDEX_FILE, type ClassExemplars } from '../../src/network/exemplar-index.ts';
import { NETWORK_SCHEMA, saveNetwork, type NetworkManifest } from '../../src/network/artifact.ts';
import { Rng } from '../../src/util/random.ts';

export const CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
export const K = 3;
export const SIZE = 32;

/** A w x h RGB image with smooth seeded structure (blobs of colour), as PNG or JPEG bytes. */
export async function imageBytes(seed: number, w: number, h: number, format: 'png' | 'jpeg'): Promise<Buffer> {
  const rng = new Rng(seed);
  const blobs = Array.from({ length: 4 }, () => ({ x: rng.uniform(0, w), y: rng.uniform(0, h), r: rng.uniform(3, 12), c: [rng.int(256), rng.int(256), rng.int(256)] }));
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      for (let ch = 0; ch < 3; ch++) data[o + ch] = 40 + ((x * 3 + y * 2 + ch * 50) % 60);
      for (const b of blobs) if ((x - b.x) ** 2 + (y - b.y) ** 2 < b.r ** 2) for (let ch = 0; ch < 3; ch++) data[o + ch] = b.c[ch];
    }
  }
  const img = sharp(data, { raw: { width: w, height: h, channels: 3 } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 90 }).toBuffer();
}

export interface ExplainFixture {
  root: string;
  modelPath: string;
  /** A different model (another seed): another SHA-256. */
  otherModelPath: string;
  /** The model's graph input and logits output names. */
  inputName: string;
  logitsName: string;
  netDir: string;
  /** A network built with allocator 'none': prototypes + residual term = head row. */
  residualNetDir: string;
  preprocess: PreprocessConfig;
  /** Good test images (PNG and JPEG of different sizes). */
  images: string[];
  /** A file with an image extension that is not an image. */
  badImage: string;
}

/**
 * Seeded split of each head row into k parts summing to it: k - 1 random parts, the last the rest
 * (computed in float64, stored in float32; the sum is exact to float32 rounding). With `residual`,
 * a random residual term is taken out of the row first.
 */
export function splitHead(W: Float32Array, C: number, D: number, k: number, seed: number, residual = false): { prototypes: Float32Array; residualTerm: Float32Array } {
  const rng = new Rng(seed);
  const prototypes = new Float32Array(C * k * D);
  const residualTerm = new Float32Array(C * D);
  for (let c = 0; c < C; c++) {
    for (let d = 0; d < D; d++) {
      const w = W[c * D + d];
      let rest = w;
      if (residual) {
        residualTerm[c * D + d] = 0.3 * rng.normal() * Math.abs(w) + 0.01 * rng.normal();
        rest -= residualTerm[c * D + d];
      }
      for (let i = 0; i < k - 1; i++) {
        const p = Math.fround(rest / k + 0.5 * Math.abs(w) * rng.normal());
        prototypes[(c * k + i) * D + d] = p;
        rest -= p;
      }
      prototypes[(c * k + k - 1) * D + d] = rest;
    }
  }
  return { prototypes, residualTerm };
}

/** Write the model files, networks and images under `root`. */
export async function makeExplainFixture(root: string): Promise<ExplainFixture> {
  const net = buildResNetLike({ seed: 3 });
  const modelPath = join(root, 'model.onnx');
  const otherModelPath = join(root, 'other.onnx');
  await writeFile(modelPath, net.model);
  await writeFile(otherModelPath, buildResNetLike({ seed: 4 }).model);
  const preprocess = makePreprocessConfig({ size: [SIZE, SIZE] });

  // Training images for exemplars, and test images.
  const train = join(root, 'train');
  await mkdir(train, { recursive: true });
  const items: ImageItem[] = [];
  for (let j = 0; j < 4; j++) {
    const path = join(train, `t${j}.png`);
    await writeFile(path, await imageBytes(100 + j, 48, 40, 'png'));
    items.push({ index: j, id: `t${j}.png`, path, label: 0 });
  }
  const imgDir = join(root, 'images');
  await mkdir(imgDir, { recursive: true });
  const images: string[] = [];
  for (let j = 0; j < 3; j++) {
    const path = join(imgDir, `img ${j}.${j === 1 ? 'jpg' : 'png'}`);
    await writeFile(path, await imageBytes(200 + j, 40 + 8 * j, 30 + 4 * j, j === 1 ? 'jpeg' : 'png'));
    images.push(path);
  }
  const badImage = join(imgDir, 'broken.jpg');
  await writeFile(badImage, Buffer.from('this is not a JPEG file at all'));

  const clf = await loadClassifier(modelPath, { inputSize: SIZE });
  const C = clf.head.numClasses;
  const D = clf.head.featureDim;
  const { H, W } = clf.features;
  const input = new Float32Array(items.length * clf.inputLength);
  for (let j = 0; j < items.length; j++) input.set((await loadImage(items[j], preprocess)).tensor, j * clf.inputLength);
  const { features } = await clf.run(input, items.length);
  const headWeight = Float32Array.from(clf.head.W);
  const bias = Float32Array.from(clf.head.b);
  await clf.close();

  const makeNet = async (dir: string, residual: boolean, seed: number) => {
    const { prototypes, residualTerm } = splitHead(headWeight, C, D, K, seed, residual);
    await mkdir(dir, { recursive: true });
    const scorer = await ExemplarScorer.create();
    const classes: ClassExemplars[] = [];
    try {
      for (let c = 0; c < C; c++) {
        const r = await renderClassExemplars(
          scorer,
          { classIndex: c, className: CLASS_NAMES[c], features, items, prototypes: prototypes.slice(c * K * D, (c + 1) * K * D), k: K, H, W, D },
          { datasetRoot: root, preprocess, perPrototype: 2 },
        );
        await writeExemplarFiles(dir, r.files);
        classes.push(r.exemplars);
      }
    } finally {
      await scorer.close();
    }
    await writeExemplarIndex(dir, { ...exemplarIndexHeader(2, 95, { height: SIZE, width: SIZE }, { height: H, width: W }), classes });
    const manifest: NetworkManifest = {
      schema: NETWORK_SCHEMA,
      schemaVersion: 1,
      generator: { name: 'protolens', version: 'test' },
      model: { path: '../model.onnx', sha256: createHash('sha256').update(net.model).digest('hex'), inputName: net.inputName, featureTensor: net.featureTensor, logitsOutput: net.logitsName },
      input: { height: SIZE, width: SIZE },
      featureMap: { height: H, width: W, channels: D, nonNegative: true },
      preprocess,
      dataset: { root: '..', format: 'imagefolder', split: 'all', maxImagesPerClass: null },
      classNames: CLASS_NAMES,
      k: K,
      options: { allocator: residual ? 'none' : 'uniform', seed },
      seed,
      classes: [],
      failures: [],
      exemplars: { perPrototype: 2, percentile: 95, index: EXEMPLAR_INDEX_FILE },
      tensors: 'prototypes.safetensors',
    };
    await saveNetwork(dir, manifest, {
      prototypes,
      initialPrototypes: prototypes.map(Math.abs),
      alpha: new Float32Array(C * K).fill(1),
      residualTerm,
      headWeight,
      bias,
    });
  };
  const netDir = join(root, 'net');
  const residualNetDir = join(root, 'net-none');
  await makeNet(netDir, false, 7);
  await makeNet(residualNetDir, true, 8);
  return { root, modelPath, otherModelPath, inputName: net.inputName, logitsName: net.logitsName, netDir, residualNetDir, preprocess, images, badImage };
}
