/**
 * The demo model, end to end: generate (or reuse) the synthetic parts dataset, train the demo CNN
 * with tfjs on the wasm backend, evaluate it, export it to ONNX, check the ONNX logits against tfjs
 * on the test split, and write `<out>.onnx` plus `<out>.json` (everything needed to know what the
 * model is and to rebuild it).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { generatePartsDataset } from '../../src/data/synthetic/generate.ts';
import type { PreprocessConfig } from '../../src/data/preprocess-config.ts';
import { exportLayersModelToOnnx } from './tfjs-to-onnx.ts';
import { checkParity, nhwcToNchw, onnxLogits } from './tfjs-onnx-parity.ts';
import { Rng } from '../../src/util/random.ts';
import { demoPreprocess, loadSplit } from './data.ts';
import { buildCnn, demoCnnSpec, describeModel, finalMapSize, forwardMacs, type CnnSpec } from './model.ts';
import { accuracy, DEMO_TRAIN_CONFIG, predictLogits, trainClassifier, type EpochReport, type TrainConfig } from './train.ts';
import { initWasmBackend, type WasmBackendInfo } from './wasm-backend.ts';

/** Schema version of the demo model's JSON record. */
export const DEMO_MODEL_RECORD_VERSION = 1;

/** Default master seed of the demo model (weights and training stream are derived from it). */
export const DEMO_MODEL_SEED = 1;

export interface TrainDemoOptions {
  /** Where the dataset is generated or reused. */
  dataDir: string;
  /** Output path without extension: writes `<out>.onnx` and `<out>.json`. */
  out: string;
  /** Master seed (default DEMO_MODEL_SEED). */
  seed?: number;
  /** Seed of the dataset's images (default: the generator's DEFAULT_SEED). */
  datasetSeed?: number;
  /** Overrides of the training configuration (e.g. fewer epochs for a quick run). */
  train?: Partial<TrainConfig>;
  /** Bound on max |ONNX - tfjs| logit difference over the test split (default 1e-4). */
  parityTolerance?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What `<out>.json` holds. */
export interface DemoModelRecord {
  recordVersion: number;
  name: string;
  model: {
    file: string;
    sha256: string;
    bytes: number;
    inputName: string;
    outputName: string;
    inputShape: [string, number, number, number];
    outputShape: [string, number];
    featureTensor: string | null;
    featureMap: [number, number, number];
    ops: string[];
    batchNormFolded: boolean;
    opset: number;
  };
  architecture: CnnSpec & { parameters: number; forwardMacs: number; layers: ReturnType<typeof describeModel>['layers'] };
  classNames: string[];
  preprocess: PreprocessConfig;
  dataset: {
    generator: string;
    generatorVersion: string;
    seed: number;
    attributeSeed: number;
    params: unknown;
    counts: { classes: number; train: number; test: number };
  };
  training: {
    seed: number;
    initSeed: number;
    trainSeed: number;
    config: TrainConfig;
    optimizer: string;
    loss: string;
    steps: number;
    seconds: number;
    epochs: EpochReport[];
    framework: { tfjs: string; backend: string; simd: boolean; threads: number; addedKernels: string[]; node: string };
  };
  evaluation: {
    split: 'test';
    images: number;
    testAccuracy: number;
    onnxTestAccuracy: number;
    trainAccuracy: number;
    perClassTestAccuracy: number[];
  };
  parity: { images: number; maxAbsDiff: number; maxAbsLogit: number; argmaxAgreement: number; tolerance: number };
}

function perClassAccuracy(logits: Float32Array, labels: Int32Array, numClasses: number): number[] {
  const right = new Array(numClasses).fill(0);
  const total = new Array(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (logits[i * numClasses + c] > logits[i * numClasses + best]) best = c;
    total[labels[i]]++;
    if (best === labels[i]) right[labels[i]]++;
  }
  return right.map((r, c) => (total[c] ? r / total[c] : NaN));
}

/** Run the whole pipeline and write the two files. Returns the record written to `<out>.json`. */
export async function trainDemoModel(options: TrainDemoOptions): Promise<DemoModelRecord> {
  const log = options.log ?? (() => {});
  const seed = options.seed ?? DEMO_MODEL_SEED;
  const master = new Rng(seed);
  const initSeed = master.fork(1).seed;
  const trainSeed = master.fork(2).seed;
  const backend: WasmBackendInfo = await initWasmBackend({ requireSimd: true });
  log(`tfjs ${backend.tfjsVersion} on ${backend.backend} (SIMD ${backend.simd}, ${backend.threads} thread); added kernels: ${backend.addedKernels.join(', ') || 'none'}`);

  const ds = await generatePartsDataset({ dir: options.dataDir, ...(options.datasetSeed !== undefined ? { seed: options.datasetSeed } : {}) });
  log(`dataset ${ds.dir}: ${ds.counts.classes} classes, ${ds.counts.train} train / ${ds.counts.test} test (generator ${ds.version}, seed ${ds.seed}, ${ds.reused ? 'reused' : 'generated'})`);
  const preprocess = demoPreprocess();
  const train = await loadSplit(options.dataDir, 'train', preprocess);
  const test = await loadSplit(options.dataDir, 'test', preprocess);

  const spec = demoCnnSpec(train.classNames.length);
  const model = buildCnn(spec, initSeed);
  const config: TrainConfig = { ...DEMO_TRAIN_CONFIG, ...options.train, seed: trainSeed };
  const desc = describeModel(model);
  log(`model: ${desc.parameters} parameters, ${(forwardMacs(spec) / 1e6).toFixed(1)} M MACs per image; training ${config.epochs} epochs`);
  const result = await trainClassifier(model, train, config, {
    onEpoch: (e) => log(`epoch ${e.epoch}/${config.epochs}: loss ${e.loss.toFixed(4)}, lr ${e.learningRate.toExponential(2)}, ${e.seconds.toFixed(1)} s`),
  });

  const testLogits = predictLogits(model, test);
  const testAccuracy = accuracy(testLogits, test.labels);
  const trainAccuracy = accuracy(predictLogits(model, train), train.labels);
  log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% (train ${(100 * trainAccuracy).toFixed(2)}%)`);

  const ex = exportLayersModelToOnnx(model, { graphName: 'protolens_demo_cnn' });
  const tolerance = options.parityTolerance ?? 1e-4;
  const parity = await checkParity(model, ex.bytes, test, tolerance);
  const onnxTest = await onnxLogits(ex.bytes, nhwcToNchw(test.images, test.count, test.height, test.width, test.channels), test.count, [3, test.height, test.width]);
  const onnxTestAccuracy = accuracy(onnxTest, test.labels);
  log(`ONNX parity on ${parity.images} test images: max |diff| ${parity.maxAbsDiff.toExponential(2)} (max |logit| ${parity.maxAbsLogit.toFixed(2)}); ONNX test accuracy ${(100 * onnxTestAccuracy).toFixed(2)}%`);

  const onnxPath = `${options.out}.onnx`;
  const jsonPath = `${options.out}.json`;
  const [fh, fw] = finalMapSize(spec);
  const record: DemoModelRecord = {
    recordVersion: DEMO_MODEL_RECORD_VERSION,
    name: 'protolens demo CNN',
    model: {
      file: relative(dirname(jsonPath), onnxPath),
      sha256: createHash('sha256').update(ex.bytes).digest('hex'),
      bytes: ex.bytes.length,
      inputName: ex.inputName,
      outputName: ex.outputName,
      inputShape: ex.inputShape,
      outputShape: ex.outputShape,
      featureTensor: ex.featureTensor,
      featureMap: [spec.blocks[spec.blocks.length - 1].filters, fh, fw],
      ops: ex.ops,
      batchNormFolded: ex.foldedBatchNorm,
      opset: 17,
    },
    architecture: { ...spec, parameters: desc.parameters, forwardMacs: forwardMacs(spec), layers: desc.layers },
    classNames: train.classNames,
    preprocess,
    dataset: {
      generator: 'protolens synthetic parts dataset',
      generatorVersion: ds.version,
      seed: ds.seed,
      attributeSeed: ds.params.attributeSeed,
      params: ds.params,
      counts: { classes: ds.counts.classes, train: ds.counts.train, test: ds.counts.test },
    },
    training: {
      seed,
      initSeed,
      trainSeed,
      config,
      optimizer: 'Adam (beta1 0.9, beta2 0.999, epsilon 1e-7), decoupled weight decay on conv/linear kernels',
      loss: 'softmax cross-entropy',
      steps: result.steps,
      seconds: Number(result.seconds.toFixed(1)),
      epochs: result.epochs.map((e) => ({ ...e, loss: Number(e.loss.toFixed(6)), seconds: Number(e.seconds.toFixed(1)) })),
      framework: { tfjs: backend.tfjsVersion, backend: backend.backend, simd: backend.simd, threads: backend.threads, addedKernels: backend.addedKernels, node: process.version },
    },
    evaluation: {
      split: 'test',
      images: test.count,
      testAccuracy,
      onnxTestAccuracy,
      trainAccuracy,
      perClassTestAccuracy: perClassAccuracy(testLogits, test.labels, spec.numClasses),
    },
    parity: { ...parity, tolerance },
  };
  await mkdir(dirname(onnxPath), { recursive: true });
  await writeFile(onnxPath, ex.bytes);
  await writeFile(jsonPath, JSON.stringify(record, null, 2) + '\n');
  log(`wrote ${onnxPath} (${ex.bytes.length} bytes, sha256 ${record.model.sha256.slice(0, 12)}...) and ${jsonPath}`);
  model.dispose();
  return record;
}
