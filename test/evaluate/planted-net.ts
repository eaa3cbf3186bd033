/**
 * Networks whose answers are known, on a CUB fixture (test/helpers/cub-fixture.ts: each visible part is a
 * 3 x 3 marker of a saturated colour, part 1 red, 2 green, 3 blue, on a lighter box):
 *
 * The ONNX model (input 3 x 64 x 64, normalisation 'none' so values are x / 255) computes four
 * feature channels at 8 x 8:
 *   0..2  colour detectors relu(c - other two - 0.4) for red, green, blue, average-pooled 8 x 8:
 *         they fire on the part markers only (box colours give negative values);
 *   3     a constant map peaking at the top-left corner, whatever the image;
 * then relu, GAP and a linear head W (C x 4), b.
 *
 * - `markers` network: W[c] = s_c (1, 1, 1, 0); prototype i = s_c e_i (i = 0, 1, 2), so prototype i's
 *   map is part (i + 1)'s detector: it peaks at that part's marker. Consistency must be 100.
 *   Class 1 has the largest s and a negative bias, so markers make it the prediction and deleting
 *   them removes it: the class map (the markers) must beat a random order on deletion and insertion.
 * - `corner` network: W[c] = s_c e_3, prototypes s_c e_3 / 3 (three identical ones): every map peaks
 *   at the corner, far from the parts. Consistency must be 0.
 */
import { createHash } from 'node:crypto';
import { cpSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { writeCubFixture, type CubFixture } from '../helpers/cub-fixture.ts';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import { readSafetensors, tensorOf, writeSafetensors } from '../../src/io/safetensors.ts';
import { NETWORK_SCHEMA, saveNetwork, TENSORS_FILE, type NetworkManifest } from '../../src/network/artifact.ts';

export const SIZE = 64;
export const CELL = 8;
export const MAP = SIZE / CELL;
export const K = 3;
export const CLASSES = 3;
/** Head scale per class and biases: class 1 wins when markers are present. */
export const SCALES = [1000, 3000, 1000];
export const BIASES = [0, -3, 0];

/** The corner channel: 1 at (0, 0), falling by 0.25 per cell of Manhattan distance, 0 beyond. */
export function cornerMap(): Float32Array {
  const m = new Float32Array(MAP * MAP);
  for (let r = 0; r < MAP; r++) for (let q = 0; q < MAP; q++) m[r * MAP + q] = Math.max(0, 1 - 0.25 * (r + q));
  return m;
}

/** The model bytes for head W (C x 4) and b (C). */
export function plantedModel(W: number[][], b: number[]): Uint8Array {
  const C = W.length;
  return buildModel({
    name: 'planted_parts',
    nodes: [
      node('Conv', ['input', 'det_w', 'det_b'], ['det'], { kernel_shape: [1, 1] }),
      node('Relu', ['det'], ['det_relu']),
      node('AveragePool', ['det_relu'], ['pooled'], { kernel_shape: [CELL, CELL], strides: [CELL, CELL] }),
      node('Conv', ['pooled', 'zero_w'], ['zeros'], { kernel_shape: [1, 1] }),
      node('Add', ['zeros', 'corner'], ['corner_map']),
      node('Concat', ['pooled', 'corner_map'], ['stack'], { axis: 1 }),
      node('Relu', ['stack'], ['features']),
      node('GlobalAveragePool', ['features'], ['gap']),
      node('Flatten', ['gap'], ['flat'], { axis: 1 }),
      node('Gemm', ['flat', 'fc_w', 'fc_b'], ['logits'], { transB: 1 }),
    ],
    inputs: [valueInfo('input', ['N', 3, SIZE, SIZE])],
    outputs: [valueInfo('logits', ['N', C])],
    initializers: [
      tensor('det_w', [3, 3, 1, 1], [1, -1, -1, -1, 1, -1, -1, -1, 1]),
      tensor('det_b', [3], [-0.4, -0.4, -0.4]),
      tensor('zero_w', [1, 3, 1, 1], [0, 0, 0]),
      tensor('corner', [1, 1, MAP, MAP], cornerMap()),
      tensor('fc_w', [C, 4], W.flat()),
      tensor('fc_b', [C], b),
    ],
  });
}

export interface PlantedFixture {
  cub: CubFixture;
  markersModel: string;
  cornerModel: string;
  /** Network folders. */
  markers: string;
  corner: string;
}

async function writeNetwork(dir: string, modelFile: string, modelBytes: Uint8Array, W: number[][], b: number[], prototypes: Float32Array): Promise<void> {
  await mkdir(dir, { recursive: true });
  const C = W.length;
  const D = 4;
  const manifest: NetworkManifest = {
    schema: NETWORK_SCHEMA,
    schemaVersion: 1,
    generator: { name: 'protolens', version: 'test' },
    model: { path: `../${modelFile}`, sha256: createHash('sha256').update(modelBytes).digest('hex'), inputName: 'input', featureTensor: 'features', logitsOutput: 'logits' },
    input: { height: SIZE, width: SIZE },
    featureMap: { height: MAP, width: MAP, channels: D, nonNegative: true },
    preprocess: makePreprocessConfig({ size: [SIZE, SIZE], cropToBox: true, normalize: 'none' }),
    dataset: { root: '../cub', format: 'cub', split: 'train', maxImagesPerClass: null },
    classNames: Array.from({ length: C }, (_, c) => `${String(c + 1).padStart(3, '0')}.class_${c + 1}`),
    k: K,
    options: { allocator: 'planted' },
    seed: 0,
    classes: [],
    failures: [],
    exemplars: null,
    tensors: 'prototypes.safetensors',
  };
  await saveNetwork(dir, manifest, {
    prototypes,
    initialPrototypes: prototypes.map(Math.abs),
    alpha: new Float32Array(C * K).fill(1),
    residualTerm: new Float32Array(C * D),
    headWeight: Float32Array.from(W.flat()),
    bias: Float32Array.from(b),
  });
}

/** Write the CUB fixture, both models and both networks under `root`. */
export async function makePlantedFixture(root: string): Promise<PlantedFixture> {
  const cub = await writeCubFixture(join(root, 'cub'), { classes: CLASSES, imagesPerClass: 8, testEvery: 2, seed: 5, segmentations: true });
  const C = CLASSES;
  const D = 4;
  const Wm = SCALES.map((s) => [s, s, s, 0]);
  const Wc = SCALES.map((s) => [0, 0, 0, s]);
  const pm = new Float32Array(C * K * D);
  const pc = new Float32Array(C * K * D);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < K; i++) {
      pm[(c * K + i) * D + i] = SCALES[c];
      pc[(c * K + i) * D + 3] = SCALES[c] / 4;
    }
    pc[(c * K + 2) * D + 3] = SCALES[c] / 2; // 1/4 + 1/4 + 1/2: prototypes 0 and 1 identical
  }
  const markersBytes = plantedModel(Wm, BIASES);
  const cornerBytes = plantedModel(Wc, BIASES);
  await writeFile(join(root, 'markers.onnx'), markersBytes);
  await writeFile(join(root, 'corner.onnx'), cornerBytes);
  const markers = join(root, 'net-markers');
  const corner = join(root, 'net-corner');
  await writeNetwork(markers, 'markers.onnx', markersBytes, Wm, BIASES, pm);
  await writeNetwork(corner, 'corner.onnx', cornerBytes, Wc, BIASES, pc);
  return { cub, markersModel: join(root, 'markers.onnx'), cornerModel: join(root, 'corner.onnx'), markers, corner };
}

/**
 * Copy a markers network to `dst` and tamper with it: `delta` is added to channel 1 (the green
 * detector) of prototype 0 and of the stored head row of every class, so the network still sums to
 * its (altered) head and loads, but no longer decomposes the model.
 */
export async function tamperedCopy(src: string, dst: string, delta = 400): Promise<string> {
  cpSync(src, dst, { recursive: true });
  const { tensors, metadata } = await readSafetensors(join(dst, TENSORS_FILE));
  const P = tensors.prototypes.data as Float32Array;
  const W = tensors.head_weight.data as Float32Array;
  for (let c = 0; c < CLASSES; c++) {
    P[(c * K + 0) * 4 + 1] += delta;
    W[c * 4 + 1] += delta;
  }
  await writeSafetensors(join(dst, TENSORS_FILE), Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, tensorOf(t.data, t.shape)])), metadata);
  return dst;
}
