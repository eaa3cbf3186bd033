/**
 * Exemplars: for every prototype, the training patches that activate it most ("what" the prototype
 * stands for). For prototype i of class c and a training image x of that class, the image's score is
 * max over positions of x p~_i (the strongest point of the prototype's heatmap on that image). The
 * top m images by score are the prototype's exemplars, at most one patch per image; ties go to the
 * image listed first. Each patch is the box of the pixels at or above the 95th percentile of the
 * map upsampled bicubically to the model's input (ProtoPNet's crop), cut from the image as the model
 * saw it, and saved as a crop plus a context picture (the whole image with the box and a faint
 * heatmap, its longer side 112 px by default), WebP quality 80 by default (PNG on request).
 *
 * The files and the index format: src/network/exemplar-index.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeForDisplay, decodeJpeg } from '../data/load.ts';
import { type ImageItem } from '../data/types.ts';
import { type PreprocessConfig } from '../data/preprocess-config.ts';
import { boxOnImage, crop } from '../pictures/overlay.ts';
import { pictureExtension, type PictureEncoding } from '../pictures/image.ts';
import { scaleBox } from '../pictures/layers.ts';
import { resizeRgb } from '../data/resize.ts';
import { prototypeBox } from '../pictures/overlay-layers.ts';
import { buildModel, node, valueInfo } from '../onnx/builder.ts';
import { EXEMPLARS_DIR, type ClassExemplars, type ExemplarEntry } from '../network/exemplar-index.ts';
import { InputError } from '../util/errors.ts';

/** Default number of exemplars per prototype. */
export const DEFAULT_EXEMPLARS = 5;
/** Default percentile of the upsampled map that makes the crop box. */
export const DEFAULT_EXEMPLAR_PERCENTILE = 95;
/**
 * Default picture format of exemplars: WebP, lossy, quality 80 (a 70 x 70 patch of a photo is a few
 * kB instead of the 10-15 kB of a PNG; every current browser shows WebP). 'png' keeps them lossless;
 * 'jpeg' (4:4:4) encodes in about three quarters of WebP's time at effort 2, for larger files.
 */
export const EXEMPLAR_FORMATS = ['webp', 'png', 'jpeg'] as const;
export type ExemplarFormat = (typeof EXEMPLAR_FORMATS)[number];
export const DEFAULT_EXEMPLAR_FORMAT: ExemplarFormat = 'webp';
export const DEFAULT_EXEMPLAR_QUALITY = 80;
/**
 * Default WebP effort of exemplar pictures (libwebp's method, 0-6): 2. On a class's 100 pictures
 * (112 px contexts, patches up to 224 px) it takes two thirds of the CPU time of sharp's default 4
 * (400 vs 590 ms) for 4 % more bytes; 1 and 0 save no further time and add 25-30 % (bench notes in
 * docs/build.md).
 */
export const DEFAULT_EXEMPLAR_EFFORT = 2;
/**
 * Default longer side, in pixels, of an exemplar's context picture (the training image as the model
 * saw it, with the patch boxed): 112, half a 224 input, enough to see where the patch sits; inputs
 * smaller than this stay at their size.
 */
export const DEFAULT_EXEMPLAR_CONTEXT_SIZE = 112;
/**
 * JPEG quality of the input pictures the extraction keeps in the feature cache for exemplars (4:4:4):
 * a 224 x 224 picture is 15-25 kB, about 4 % of its features' size, and decodes in a fraction of a
 * millisecond instead of decoding and resizing the original again.
 */
export const KEPT_PICTURE_QUALITY = 90;

/** One prototype's choice: images (indices into the class's image list) and their scores, best first. */
export interface ExemplarChoice {
  image: number;
  score: number;
}

/**
 * The top `m` images per prototype by score (n x k, row-major: scores[j * k + i] is image j's score
 * for prototype i), best first, at most one entry per image; equal scores keep image order.
 */
export function selectExemplars(scores: Float32Array, n: number, k: number, m: number): ExemplarChoice[][] {
  if (scores.length !== n * k) throw new InputError(`selectExemplars: scores have ${scores.length} values, expected n x k = ${n} x ${k}`);
  const out: ExemplarChoice[][] = [];
  for (let i = 0; i < k; i++) {
    const order = Array.from({ length: n }, (_, j) => j);
    order.sort((a, b) => scores[b * k + i] - scores[a * k + i] || a - b);
    out.push(order.slice(0, Math.min(m, n)).map((j) => ({ image: j, score: scores[j * k + i] })));
  }
  return out;
}

/**
 * Heatmaps and scores of k prototypes on one class's feature maps, in onnxruntime:
 * M = F P^T (n x HW x k) and S = max over positions of M (n x k). One session serves every class
 * (shapes are dynamic); one intra-op thread, so it does not compete with decomposition workers.
 */
export class ExemplarScorer {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(): Promise<ExemplarScorer> {
    const model = buildModel({
      name: 'exemplar_scores',
      nodes: [node('MatMul', ['F', 'PT'], ['M']), node('ReduceMax', ['M'], ['S'], { axes: [1], keepdims: 0 })],
      inputs: [valueInfo('F', ['n', 'hw', 'd']), valueInfo('PT', ['d', 'k'])],
      outputs: [valueInfo('M', ['n', 'hw', 'k']), valueInfo('S', ['n', 'k'])],
      opset: 17,
    });
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    return new ExemplarScorer(session);
  }

  /**
   * F: n x hw x d features; P: k x d prototypes. Returns maps (n x hw x k: maps[(j * hw + p) * k + i]
   * is x_j[p] . P[i]) and scores (n x k).
   */
  async score(F: Float32Array, n: number, hw: number, d: number, P: Float32Array, k: number): Promise<{ maps: Float32Array; scores: Float32Array }> {
    if (F.length !== n * hw * d) throw new InputError(`exemplar scores: features have ${F.length} values, expected ${n} x ${hw} x ${d}`);
    if (P.length !== k * d) throw new InputError(`exemplar scores: prototypes have ${P.length} values, expected ${k} x ${d}`);
    const PT = new Float32Array(d * k);
    for (let i = 0; i < k; i++) for (let c = 0; c < d; c++) PT[c * k + i] = P[i * d + c];
    const out = await this.session.run({ F: new ort.Tensor('float32', F, [n, hw, d]), PT: new ort.Tensor('float32', PT, [d, k]) });
    return { maps: out.M.data as Float32Array, scores: out.S.data as Float32Array };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Everything needed to make one class's exemplars. */
export interface ClassExemplarInput {
  classIndex: number;
  className: string;
  /** n x hw x d features of the images in `items` order. */
  features: Float32Array;
  /** The images whose features these are (same order). */
  items: readonly ImageItem[];
  /** Their input pictures as kept by the extraction (JPEG, same order), when the cache has them. */
  pictures?: readonly Uint8Array[];
  /** Refined prototypes p~ of the class, k x d. */
  prototypes: Float32Array;
  k: number;
  /** Feature map H x W and channels. */
  H: number;
  W: number;
  D: number;
}

export interface ExemplarSettings {
  /** Dataset root, for the image paths recorded in the index. */
  datasetRoot: string;
  /** The preprocessing the features were computed with (the patch is cut from the image as the model saw it). */
  preprocess: PreprocessConfig;
  /** Exemplars per prototype (default 5). */
  perPrototype?: number;
  /** Percentile of the upsampled map that makes the box (default 95). */
  percentile?: number;
  /** Picture format (default webp), WebP or JPEG quality (default 80) and WebP effort (default 2). */
  format?: ExemplarFormat;
  quality?: number;
  effort?: number;
  /** Longer side of the context picture in pixels (default 112; never enlarged beyond the input size). */
  contextSize?: number;
}

const posix = (p: string) => p.split(sep).join('/');

/** Exemplar pictures rendered at once (sharp works on libuv's pool, 4 threads by default). */
const RENDER_CONCURRENCY = 4;

/** One encoded exemplar picture and where it goes, relative to the network folder. */
export interface ExemplarFile {
  path: string;
  bytes: Uint8Array;
}

/** A class's exemplars: its index entry and its encoded pictures (crop then context, entry by entry). */
export interface RenderedExemplars {
  exemplars: ClassExemplars;
  files: ExemplarFile[];
}

/** Score a class's images, choose its exemplars and encode their pictures (in memory). */
export async function renderClassExemplars(scorer: ExemplarScorer, input: ClassExemplarInput, settings: ExemplarSettings): Promise<RenderedExemplars> {
  const { classIndex, features, items, prototypes, k, H, W, D } = input;
  const n = items.length;
  const m = settings.perPrototype ?? DEFAULT_EXEMPLARS;
  const pct = settings.percentile ?? DEFAULT_EXEMPLAR_PERCENTILE;
  const hw = H * W;
  if (n === 0) return { exemplars: { index: classIndex, name: input.className, images: 0, prototypes: Array.from({ length: k }, () => []) }, files: [] };
  const { maps, scores } = await scorer.score(features, n, hw, D, prototypes, k);
  const chosen = selectExemplars(scores, n, k, m);
  const [inH, inW] = settings.preprocess.size;
  const format = settings.format ?? DEFAULT_EXEMPLAR_FORMAT;
  const quality = settings.quality ?? DEFAULT_EXEMPLAR_QUALITY;
  const encoding: PictureEncoding = format === 'png' ? { format } : format === 'jpeg' ? { format, quality } : { format, quality, effort: settings.effort ?? DEFAULT_EXEMPLAR_EFFORT };
  const ext = pictureExtension(encoding);
  const contextScale = Math.min(1, (settings.contextSize ?? DEFAULT_EXEMPLAR_CONTEXT_SIZE) / Math.max(inW, inH));
  const folder = `c${String(classIndex).padStart(5, '0')}`;
  const pictures = new Map<number, Promise<Uint8Array>>();
  const picture = (j: number): Promise<Uint8Array> => {
    let rgb = pictures.get(j);
    if (!rgb) {
      const kept = input.pictures?.[j];
      rgb = (kept ? decodeJpeg(kept) : decodeForDisplay(items[j], settings.preprocess).then((d) => d.input)).then((d) => {
        if (d.width !== inW || d.height !== inH) throw new InputError(`exemplars: ${items[j].path} decodes to ${d.width} x ${d.height}, expected the input size ${inW} x ${inH}`);
        return d.data;
      });
      pictures.set(j, rgb);
    }
    return rgb;
  };
  // The context picture is drawn on the image already reduced to its size (Pillow-exact bilinear, once
  // per image), so drawing it needs no resize per exemplar.
  const [cw, ch] = [Math.max(1, Math.round(inW * contextScale)), Math.max(1, Math.round(inH * contextScale))];
  const smalls = new Map<number, Promise<Uint8Array>>();
  const small = (j: number): Promise<Uint8Array> => {
    let s = smalls.get(j);
    if (!s) {
      s = picture(j).then(async (data) => (cw === inW && ch === inH ? data : (await resizeRgb({ data, width: inW, height: inH }, cw, ch, 'bilinear')).data));
      smalls.set(j, s);
    }
    return s;
  };
  const one = async (i: number, r: number): Promise<{ entry: ExemplarEntry; files: ExemplarFile[] }> => {
    const { image: j, score } = chosen[i][r];
    const map = new Float32Array(hw);
    let position = 0;
    for (let p = 0; p < hw; p++) {
      map[p] = maps[(j * hw + p) * k + i];
      if (map[p] > map[position]) position = p;
    }
    const box = prototypeBox(map, H, W, inW, inH, pct);
    const [rgb, ctx] = await Promise.all([picture(j), small(j)]);
    const base = `${EXEMPLARS_DIR}/${folder}/p${i}_${r}`;
    const cropPath = `${base}${ext}`;
    const contextPath = `${base}_context${ext}`;
    const [cropBytes, contextBytes] = await Promise.all([
      crop(rgb, inW, inH, box, 1, 'cubic', encoding),
      boxOnImage(ctx, cw, ch, scaleBox(box, inW, inH, cw, ch), { heatmap: { map, height: H, width: W }, encoding }),
    ]);
    return {
      entry: { item: items[j].id, image: posix(relative(settings.datasetRoot, items[j].path)), score, position, box, crop: cropPath, context: contextPath },
      files: [
        { path: cropPath, bytes: cropBytes },
        { path: contextPath, bytes: contextBytes },
      ],
    };
  };
  const tasks = chosen.flatMap((list, i) => list.map((_, r) => [i, r] as const));
  const done = new Array<{ entry: ExemplarEntry; files: ExemplarFile[] }>(tasks.length);
  let next = 0;
  const worker = async () => {
    for (let t = next++; t < tasks.length; t = next++) done[t] = await one(tasks[t][0], tasks[t][1]);
  };
  await Promise.all(Array.from({ length: Math.min(RENDER_CONCURRENCY, tasks.length) }, worker));
  const result: ExemplarEntry[][] = chosen.map(() => []);
  tasks.forEach(([i], t) => result[i].push(done[t].entry));
  return { exemplars: { index: classIndex, name: input.className, images: n, prototypes: result }, files: done.flatMap((d) => d.files) };
}

/**
 * Write rendered pictures below the network folder `dir`. Plain writes: the index (written atomically,
 * after every picture) is what makes them part of the network.
 */
export async function writeExemplarFiles(dir: string, files: readonly ExemplarFile[]): Promise<void> {
  const folders = new Set(files.map((f) => dirname(join(dir, f.path))));
  for (const f of folders) await mkdir(f, { recursive: true });
  await Promise.all(files.map((f) => writeFile(join(dir, f.path), f.bytes)));
}
