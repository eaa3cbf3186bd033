/**
 * The paper's scale on one machine: a CUB-sized build (200 classes x 30 training images of 500 x 375
 * JPEG, like CUB-200-2011's 5,994) of a torchvision-shaped model (random weights) at 224, k = 10,
 * measured against onnxruntime alone on the same model.
 *
 * In one run:
 * (a) onnxruntime alone: the unmodified model in its own session, fed pre-decoded batches (no decode,
 *     no resize, no cache): images per second;
 * (b) `protolens build --k 10` end to end through the CLI (fresh feature cache), wall time, its own
 *     phase times, peak RSS (the child's high-water mark), the network folder's size;
 * ratio = build wall / (images / rate of a). Targets (issue 10): ratio <= 1.3, extraction >= 0.85 of
 * (a), exemplars <= 10 % of the build, network folder <= 60 MB.
 * (c) the same build without exemplars on the feature cache (b) left: the exemplars' cost is what they
 *     add to the time after extraction (they are rendered while the workers decompose).
 *
 * The dataset (ImageFolder, seeded drawings) and the model are generated once and cached under
 * .cache/bench-cub-scale/.
 *
 *   node --import tsx bench/cub-scale.ts [--model resnet34|resnet50|densenet121] [--classes 200] [--per-class 30]
 *                                        [--k 10] [--threads 2] [--exemplars 5] [--profile-only]
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeRgb } from '../src/data/decode.ts';
import { encodeJpeg } from '../src/data/load.ts';
import { normalizeInto, toInputRgb } from '../src/data/preprocess.ts';
import { makePreprocessConfig } from '../src/data/preprocess-config.ts';
import { DEFAULT_EXTRACT_BATCH } from '../src/features/extract.ts';
import { FeatureStore } from '../src/features/store.ts';
import { loadClassifier } from '../src/model/classifier.ts';
import { BENCH_MODELS, bytesOf, dataset, H, model, ortAlone, W, type BenchModel } from './cub-data.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'resnet34' },
    classes: { type: 'string', default: '200' },
    'per-class': { type: 'string', default: '30' },
    k: { type: 'string', default: '10' },
    threads: { type: 'string', default: '2' },
    exemplars: { type: 'string', default: '5' },
    'profile-only': { type: 'boolean', default: false },
  },
});
const MODEL = values.model! as BenchModel;
if (!(BENCH_MODELS as readonly string[]).includes(MODEL)) throw new Error(`--model: expected one of ${BENCH_MODELS.join(', ')}, got '${MODEL}'`);
const CLASSES = Number(values.classes);
const PER_CLASS = Number(values['per-class']);
const K = Number(values.k);
const THREADS = Number(values.threads);
const r = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * Where an image's time goes on the extraction path, one image at a time (medians over the first 48
 * images; the build overlaps decoding with inference on libuv's threads, so these add up to more
 * than its wall time per image): decode, Pillow-exact resize, normalisation into the tensor, the
 * kept picture's JPEG, inference per image in the classifier session (features + logits; median of 3
 * batches of 32, the batch of (a)) against the plain model's (a), and the cache write per image.
 */
async function profile(data: string, modelPath: string, rate: number): Promise<Record<string, number>> {
  const cfg = makePreprocessConfig({ size: 224 });
  const files = readdirSync(data).filter((d) => !d.startsWith('.')).sort().slice(0, 2).flatMap((d) => readdirSync(join(data, d)).sort().map((f) => join(data, d, f))).slice(0, 48);
  const t = { decode: [] as number[], resize: [] as number[], normalize: [] as number[], keepJpeg: [] as number[] };
  const tensor = new Float32Array(3 * 224 * 224);
  for (const f of files) {
    let a = performance.now();
    const src = await decodeRgb(f, cfg);
    t.decode.push(performance.now() - a);
    a = performance.now();
    const { rgb } = await toInputRgb(src, { id: f, path: f }, cfg);
    t.resize.push(performance.now() - a);
    a = performance.now();
    normalizeInto(rgb, cfg, tensor, 0);
    t.normalize.push(performance.now() - a);
    a = performance.now();
    await encodeJpeg(rgb, 90);
    t.keepJpeg.push(performance.now() - a);
  }
  const clf = await loadClassifier(modelPath, { intraOpThreads: THREADS });
  // The batch of (a) and of the build, so that the two figures compare the sessions, not batch sizes.
  const B = DEFAULT_EXTRACT_BATCH;
  const x = new Float32Array(B * 3 * 224 * 224).fill(0.1);
  let out = await clf.run(x, B);
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const a = performance.now();
    out = await clf.run(x, B);
    runs.push((performance.now() - a) / B);
  }
  const { HW, D } = clf.features;
  await clf.close();
  const dir = await mkdtemp(join(tmpdir(), 'protolens-bench-profile-'));
  const store = await FeatureStore.open(dir, { modelSha256: 'x', featureTensor: 'f', preprocess: cfg, H: 7, W: 7, D, numClasses: CLASSES });
  const n = PER_CLASS;
  const feats = new Float32Array(n * HW * D).fill(0.5);
  const a = performance.now();
  await store.write({ classIndex: 0, features: feats, logits: new Float32Array(n * CLASSES), items: Array.from({ length: n }, (_, i) => `i${i}`), n, failures: [] }, []);
  const writeMs = (performance.now() - a) / n;
  await rm(dir, { recursive: true, force: true });
  void out;
  const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  return {
    decodeMs: r(med(t.decode)),
    resizeMs: r(med(t.resize)),
    normalizeMs: r(med(t.normalize)),
    keepJpegMs: r(med(t.keepJpeg)),
    inferenceMsInClassifier: r(med(runs)),
    inferenceMsPlain: r(1000 / rate),
    cacheWriteMs: r(writeMs),
  };
}

/** (b) The CLI build; peak RSS from /proc while it runs (VmHWM of the process). */
function build(modelPath: string, data: string, out: string, cache: string, exemplars: string): Promise<{ wall: number; peakRssMB: number; summary: Record<string, any> }> {
  return new Promise((ok, fail) => {
    const t = performance.now();
    const p = spawn(process.execPath, ['bin/protolens.js', 'build', '--model', modelPath, '--data', data, '--out', out, '--cache', cache, '--k', String(K), '--threads', String(THREADS), '--exemplars', exemplars, '--json', '--quiet']);
    let stdout = '', stderr = '';
    let hwm = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]) / 1024);
      } catch {
        /* exited */
      }
    }, 200);
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) return fail(new Error(`build exited ${code}: ${stderr}`));
      ok({ wall: (performance.now() - t) / 1000, peakRssMB: Math.round(hwm), summary: JSON.parse(stdout) });
    });
  });
}

const load0 = loadavg()[0];
const t0 = performance.now();
const data = await dataset(CLASSES, PER_CLASS);
const { path: modelPath, inputName } = await model(MODEL, CLASSES);
const prepared = (performance.now() - t0) / 1000;
const rate = await ortAlone(modelPath, inputName, THREADS);
const perImage = await profile(data, modelPath, rate);
if (values['profile-only']) {
  console.log(JSON.stringify({ bench: 'cub-scale', model: MODEL, threads: THREADS, ortAlone: { imagesPerSecond: r(rate, 1) }, perImageProfile: perImage, loadAverage: [r(load0), r(loadavg()[0])] }, null, 2));
  process.exit(0);
}
const work = await mkdtemp(join(tmpdir(), 'protolens-bench-cub-scale-'));
try {
  const b = await build(modelPath, data, join(work, 'net'), join(work, 'cache'), values.exemplars!);
  const s = b.summary;
  // The same build without exemplars on the features the first one cached: what the exemplars add to
  // the phase after extraction (they are rendered while the workers decompose, so their own seconds
  // overlap the decomposition and are not their cost).
  const bare = Number(values.exemplars) > 0 ? await build(modelPath, data, join(work, 'net-bare'), join(work, 'cache'), '0') : null;
  const afterExtraction = (x: { wall: number; summary: Record<string, any> }) => x.wall - x.summary.extraction.seconds;
  const exemplarCost = bare ? afterExtraction(b) - afterExtraction(bare) : 0;
  const images = s.images as number;
  const netBytes = bytesOf(join(work, 'net'));
  const exemplarBytes = bytesOf(join(work, 'net', 'exemplars'));
  const exemplarSeconds = s.exemplars?.seconds ?? 0;
  console.log(
    JSON.stringify(
      {
        bench: 'cub-scale',
        model: MODEL,
        dataset: { classes: CLASSES, perClass: PER_CLASS, images, size: [W, H], format: 'jpeg', preparedSeconds: r(prepared, 1) },
        k: K,
        threads: THREADS,
        ortAlone: { imagesPerSecond: r(rate, 1), secondsForTheImages: r(images / rate, 1) },
        build: {
          wallSeconds: r(b.wall, 1),
          extraction: { seconds: r(s.extraction.seconds, 1), imagesPerSecond: r(s.extraction.imagesPerSecond ?? 0, 1), ofOrtAlone: r((s.extraction.imagesPerSecond ?? 0) / rate, 3) },
          decompositionSeconds: r(s.decomposition.seconds, 1),
          exemplars: {
            pictures: s.exemplars?.pictures ?? 0,
            renderingSeconds: r(exemplarSeconds, 1),
            addedSeconds: r(exemplarCost, 1),
            shareOfBuild: r(exemplarCost / b.wall, 3),
          },
          cpuSeconds: r(s.cpuSeconds ?? 0, 1),
          peakRssMB: b.peakRssMB,
          withoutExemplars: bare ? { wallSeconds: r(bare.wall, 1), afterExtractionSeconds: r(afterExtraction(bare), 1), decompositionSeconds: r(bare.summary.decomposition.seconds, 1) } : null,
          meanPartFidelity: s.meanPartFidelity === null ? null : r(s.meanPartFidelity, 3),
        },
        ratio: r(b.wall / (images / rate), 3),
        perImageProfile: perImage,
        network: { megabytes: r(netBytes / 1e6, 1), exemplarMegabytes: r(exemplarBytes / 1e6, 1), files: readdirSync(join(work, 'net')) },
        loadAverage: [r(load0), r(loadavg()[0])],
      },
      null,
      2,
    ),
  );
} finally {
  await rm(work, { recursive: true, force: true });
}
