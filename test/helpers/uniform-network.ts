/**
 * A network folder for a synthetic classifier whose prototypes split each head row uniformly into k
 * parts (the last takes the float rounding, so they sum to the row exactly): for benchmarks, where
 * the cost matters and the prototypes' meaning does not.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { join } from 'node:path';
import { makePreprocessConfig, type PreprocessConfig } from '../../src/data/preprocess-config.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { NETWORK_SCHEMA, saveNetwork, type NetworkManifest } from '../../src/network/artifact.ts';
import { EXEMPLAR_INDEX_FILE, exemplarIndexHeader, writeExemplarIndex } from '../../src/network/exemplar-index.ts';
import type { SyntheticNet } from './synthetic-nets.ts';

export interface UniformNetwork {
  modelPath: string;
  netDir: string;
  preprocess: PreprocessConfig;
  C: number;
  D: number;
  H: number;
  W: number;
}

/**
 * Write `<dir>/<name>.onnx` and `<dir>/net` (k prototypes per class, uniform split). Without
 * `exemplars`, no exemplars; with it, an exemplar index listing that many patches per prototype, all
 * pointing at the same few small pictures (for pages and sizes at many classes, not for their content).
 */
export async function writeUniformNetwork(dir: string, name: string, net: SyntheticNet, k: number, threads: number, seed = 0, exemplars = 0): Promise<UniformNetwork> {
  const modelPath = join(dir, `${name}.onnx`);
  await writeFile(modelPath, net.model);
  const size = net.inputSize[0];
  const preprocess = makePreprocessConfig({ size });
  const clf = await loadClassifier(modelPath, { inputSize: size, intraOpThreads: threads });
  const { numClasses: C, featureDim: D } = clf.head;
  const { H, W } = clf.features;
  const headWeight = Float32Array.from(clf.head.W);
  const bias = Float32Array.from(clf.head.b);
  await clf.close();
  const prototypes = new Float32Array(C * k * D);
  for (let c = 0; c < C; c++) {
    for (let d = 0; d < D; d++) {
      let rest = headWeight[c * D + d];
      for (let i = 0; i < k - 1; i++) {
        const p = Math.fround(headWeight[c * D + d] / k);
        prototypes[(c * k + i) * D + d] = p;
        rest -= p;
      }
      prototypes[(c * k + k - 1) * D + d] = rest;
    }
  }
  const netDir = join(dir, 'net');
  const manifest: NetworkManifest = {
    schema: NETWORK_SCHEMA,
    schemaVersion: 1,
    generator: { name: 'protolens', version: 'bench' },
    model: { path: `../${name}.onnx`, sha256: createHash('sha256').update(net.model).digest('hex'), inputName: net.inputName, featureTensor: net.featureTensor, logitsOutput: net.logitsName },
    input: { height: size, width: size },
    featureMap: { height: H, width: W, channels: D, nonNegative: true },
    preprocess,
    dataset: { root: '.', format: 'imagefolder', split: 'all', maxImagesPerClass: null },
    classNames: Array.from({ length: C }, (_, c) => `class_${c}`),
    k,
    options: { allocator: 'uniform', note: 'bench: W split uniformly' },
    seed,
    classes: [],
    failures: [],
    exemplars: exemplars > 0 ? { perPrototype: exemplars, percentile: 95, index: EXEMPLAR_INDEX_FILE } : null,
    tensors: 'prototypes.safetensors',
  };
  if (exemplars > 0) {
    await mkdir(join(netDir, 'exemplars', 'shared'), { recursive: true });
    for (let r = 0; r < exemplars; r++) {
      const px = Buffer.alloc(24 * 24 * 3, 40 + 40 * r);
      await sharp(px, { raw: { width: 24, height: 24, channels: 3 } }).webp().toFile(join(netDir, 'exemplars', 'shared', `p${r}.webp`));
      await sharp(Buffer.alloc(56 * 56 * 3, 90 + 30 * r), { raw: { width: 56, height: 56, channels: 3 } }).webp().toFile(join(netDir, 'exemplars', 'shared', `p${r}_context.webp`));
    }
    const entry = (c: number, r: number) => ({ item: `c${c}/${r}`, image: `class_${c}/img_${r}.jpg`, score: 1 - r / 10, position: 0, box: { x: 0, y: 0, width: 24, height: 24 }, crop: `exemplars/shared/p${r}.webp`, context: `exemplars/shared/p${r}_context.webp` });
    await writeExemplarIndex(netDir, {
      ...exemplarIndexHeader(exemplars, 95, { height: size, width: size }, { height: H, width: W }),
      classes: Array.from({ length: C }, (_, c) => ({ index: c, name: `class_${c}`, images: exemplars, prototypes: Array.from({ length: k }, () => Array.from({ length: exemplars }, (_, r) => entry(c, r))) })),
    });
  }
  await saveNetwork(netDir, manifest, { prototypes, initialPrototypes: prototypes, alpha: new Float32Array(C * k).fill(1), residualTerm: new Float32Array(C * D), headWeight, bias });
  return { modelPath, netDir, preprocess, C, D, H, W };
}
