/**
 * Writes the synthetic parts dataset in the CUB-200-2011 layout, deterministically from a seed:
 *
 *   images/<NNN.Class_Name>/<Class_Name>_<NNNN>.jpg
 *   images.txt  classes.txt  image_class_labels.txt  train_test_split.txt  bounding_boxes.txt
 *   parts/parts.txt  parts/part_locs.txt
 *   segmentations/<NNN.Class_Name>/<Class_Name>_<NNNN>.png (foreground mask: 255 on the creature's
 *     visible pixels, 0 elsewhere, soft edges; CUB's layout, for comprehensiveness)
 *   dataset.json (seed, generator version, options, class attribute table, part list, conventions)
 *   README.md    image_render.jsonl (per-image flip, rotation, scale, body colour, occluded part)
 *
 * Every file is written atomically (temp + rename); a completion marker written last tells a later
 * call with the same options and GENERATOR_VERSION that it can reuse the directory as it is.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../../util/errors.ts';
import { checkedInteger, checkedNumber } from '../../util/options.ts';
import { Rng } from '../../util/random.ts';
import { ATTRIBUTE_VALUES, classAttributes, DEFAULT_ATTRIBUTE_SEED, PALETTE, PART_GROUPS, type ClassSpec } from './attributes.ts';
import { PART_NAMES } from './creature.ts';
import { mapLimit, writeFileAtomic } from './files.ts';
import { DEFAULT_SCENE, planScene, renderMask, renderScene, type CreatureBox, type PartKeypoint, type SceneOptions } from './scene.ts';

/**
 * Version of the generator's output. Raise it whenever a change alters any written byte for the
 * same options (drawing, randomness, file formats), so cached datasets are regenerated.
 */
export const GENERATOR_VERSION = '1.0.0';

/** Default seed of the images (the attribute table has its own, DEFAULT_ATTRIBUTE_SEED). */
export const DEFAULT_DATASET_SEED = 7;

/** Options of {@link generatePartsDataset}. Everything but `dir`, `concurrency` and `force` is part of the dataset's identity. */
export interface PartsDatasetOptions {
  /** Output directory (created if missing). Must be empty, absent, or a dataset this function wrote. */
  dir: string;
  /** Seed of every per-image random choice. Default DEFAULT_DATASET_SEED (7). */
  seed?: number;
  /** Seed of the class attribute table. Default DEFAULT_ATTRIBUTE_SEED (2024). */
  attributeSeed?: number;
  /** Number of classes, 10-20. Default 15. */
  classes?: number;
  /** Training images per class. Default 100. */
  trainPerClass?: number;
  /** Test images per class. Default 50. */
  testPerClass?: number;
  /** Image side in pixels (square). Default 96. */
  size?: number;
  /** JPEG quality (1-100), encoded with 4:4:4 chroma so thin coloured parts keep their colour. Default 92. */
  jpegQuality?: number;
  /** Maximum absolute rotation in degrees. Default 25. */
  rotationDeg?: number;
  /** Probability of a horizontal flip. Default 0.5. */
  flipProbability?: number;
  /** Range of the creature box's longer side over the image side. Default [0.5, 0.85]. */
  bboxFraction?: readonly [number, number];
  /** Probability that an occluder blob hides one part. Default 0.12. */
  occlusionRate?: number;
  /** Standard deviation of the pixel noise (0..255 scale). Default 3. */
  noiseSigma?: number;
  /** Range of the number of background clutter items. Default [14, 26]. */
  clutter?: readonly [number, number];
  /** Images rendered concurrently (sharp runs them on its thread pool). Default 4. */
  concurrency?: number;
  /** Regenerate even if a complete dataset with the same options is present. Default false. */
  force?: boolean;
}

/** The options that define a dataset's content (what the completion marker records). */
export interface PartsDatasetParams {
  seed: number;
  attributeSeed: number;
  classes: number;
  trainPerClass: number;
  testPerClass: number;
  size: number;
  jpegQuality: number;
  rotationDeg: number;
  flipProbability: number;
  bboxFraction: [number, number];
  occlusionRate: number;
  noiseSigma: number;
  clutter: [number, number];
}

export interface PartsDatasetResult {
  dir: string;
  /** Class folder names as in classes.txt, e.g. `001.Red_headed_Fantail`, in id order. */
  classes: string[];
  /** Part names as in parts/parts.txt, in id order. */
  parts: string[];
  counts: { classes: number; train: number; test: number; images: number };
  seed: number;
  version: string;
  /** True when an existing complete dataset was reused without writing anything. */
  reused: boolean;
  params: PartsDatasetParams;
  /** The class attribute table. */
  classTable: ClassSpec[];
}

/** CUB's segmentation file of an image: segmentations/<class>/<image name>.png. */
export const segmentationPath = (relPath: string): string => relPath.replace(/\.[^./]+$/, '') + '.png';

/** File written first: marks the directory as owned by this generator (safe to clean). */
export const DATASET_CLAIM_FILE = '.protolens-parts-dataset';
/** File written last: the dataset is complete for the options it records. */
export const DATASET_COMPLETE_FILE = '.complete.json';

const ROOT_FILES = [
  'images.txt',
  'classes.txt',
  'image_class_labels.txt',
  'train_test_split.txt',
  'bounding_boxes.txt',
  'dataset.json',
  'README.md',
  'image_render.jsonl',
];

const checkInt = (name: string, v: number, lo: number, hi: number): number => checkedInteger(name, v, lo, hi);
const checkNum = (name: string, v: number, lo: number, hi: number): number => checkedNumber(name, v, { min: lo, max: hi });

function checkRange(name: string, r: readonly [number, number], lo: number, hi: number, int: boolean): [number, number] {
  if (!Array.isArray(r) || r.length !== 2) throw new InputError(`${name}: expected [low, high], got ${JSON.stringify(r)}`);
  const [a, b] = r;
  (int ? checkInt : checkNum)(`${name}[0]`, a, lo, hi);
  (int ? checkInt : checkNum)(`${name}[1]`, b, lo, hi);
  if (a > b) throw new InputError(`${name}: low ${a} is above high ${b}`);
  return [a, b];
}

/** Validate options and fill in defaults. */
export function resolvePartsDatasetParams(opts: Omit<PartsDatasetOptions, 'dir'>): PartsDatasetParams {
  const d = DEFAULT_SCENE;
  return {
    seed: checkInt('seed', opts.seed ?? DEFAULT_DATASET_SEED, 0, 0xffffffff),
    attributeSeed: checkInt('attributeSeed', opts.attributeSeed ?? DEFAULT_ATTRIBUTE_SEED, 0, 0xffffffff),
    classes: checkInt('classes', opts.classes ?? 15, 10, 20),
    trainPerClass: checkInt('trainPerClass', opts.trainPerClass ?? 100, 0, 9999),
    testPerClass: checkInt('testPerClass', opts.testPerClass ?? 50, 0, 9999),
    size: checkInt('size', opts.size ?? d.size, 32, 1024),
    jpegQuality: checkInt('jpegQuality', opts.jpegQuality ?? 92, 1, 100),
    rotationDeg: checkNum('rotationDeg', opts.rotationDeg ?? d.rotationDeg, 0, 90),
    flipProbability: checkNum('flipProbability', opts.flipProbability ?? d.flipProbability, 0, 1),
    bboxFraction: checkRange('bboxFraction', opts.bboxFraction ?? d.bboxFraction, 0.2, 0.95, false),
    occlusionRate: checkNum('occlusionRate', opts.occlusionRate ?? d.occlusionRate, 0, 1),
    noiseSigma: checkNum('noiseSigma', opts.noiseSigma ?? d.noiseSigma, 0, 64),
    clutter: checkRange('clutter', opts.clutter ?? d.clutter, 0, 200, true),
  };
}

interface ImageRecord {
  id: number;
  classIndex: number;
  relPath: string;
  isTrain: boolean;
  bbox: CreatureBox;
  keypoints: PartKeypoint[];
  render: { flipped: boolean; rotationDeg: number; scale: number; bodyColour: string; occluded: string | null };
}

/** The list of images (ids, paths, split) implied by the parameters, before rendering. */
function imageList(params: PartsDatasetParams, table: ClassSpec[]): Array<Pick<ImageRecord, 'id' | 'classIndex' | 'relPath' | 'isTrain'>> {
  const per = params.trainPerClass + params.testPerClass;
  const out: Array<Pick<ImageRecord, 'id' | 'classIndex' | 'relPath' | 'isTrain'>> = [];
  const splitRng = new Rng(params.seed).fork(0x5b17);
  for (const [ci, cls] of table.entries()) {
    // Which of the class's images are test images: a seeded shuffle, like CUB's interleaved split.
    const order = splitRng.fork(ci + 1).shuffle(Array.from({ length: per }, (_, j) => j));
    const isTest = new Set(order.slice(0, params.testPerClass));
    for (let j = 0; j < per; j++) {
      out.push({
        id: out.length + 1,
        classIndex: ci,
        relPath: `${cls.folder}/${cls.name}_${String(j + 1).padStart(4, '0')}.jpg`,
        isTrain: !isTest.has(j),
      });
    }
  }
  return out;
}

const num = (x: number) => x.toFixed(2);

function stableJson(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Is `dir` a complete dataset for `params`? Checks the marker, then that every listed image exists. */
async function isComplete(dir: string, params: PartsDatasetParams, expectedImages: number): Promise<boolean> {
  let marker: { generatorVersion?: string; params?: unknown; images?: number };
  try {
    marker = JSON.parse(await readFile(join(dir, DATASET_COMPLETE_FILE), 'utf8'));
  } catch {
    return false;
  }
  if (marker.generatorVersion !== GENERATOR_VERSION || JSON.stringify(marker.params) !== JSON.stringify(params) || marker.images !== expectedImages) {
    return false;
  }
  for (const f of [...ROOT_FILES, 'parts/parts.txt', 'parts/part_locs.txt']) if (!(await exists(join(dir, f)))) return false;
  const lines = (await readFile(join(dir, 'images.txt'), 'utf8')).split('\n').filter((l) => l.length > 0);
  if (lines.length !== expectedImages) return false;
  // Datasets written before the masks were added are completed by generating again (same images).
  const present = await Promise.all(lines.map(async (l) => {
    const rel = l.slice(l.indexOf(' ') + 1);
    return (await exists(join(dir, 'images', rel))) && (await exists(join(dir, 'segmentations', segmentationPath(rel))));
  }));
  return present.every(Boolean);
}

/** Remove what a previous (possibly partial) run of this generator wrote; refuse foreign directories. */
async function prepareDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new InputError(`dir ${dir}: cannot be used as the dataset directory (${(err as Error).message})`);
  }
  if (entries.length === 0) return;
  if (!entries.includes(DATASET_CLAIM_FILE)) {
    throw new InputError(`dir ${dir}: not empty and not a generated parts dataset (no ${DATASET_CLAIM_FILE}); refusing to write into it`);
  }
  await rm(join(dir, DATASET_COMPLETE_FILE), { force: true });
  await rm(join(dir, 'images'), { recursive: true, force: true });
  await rm(join(dir, 'parts'), { recursive: true, force: true });
  await rm(join(dir, 'segmentations'), { recursive: true, force: true });
  for (const e of entries) if (ROOT_FILES.includes(e) || e.endsWith('.tmp')) await rm(join(dir, e), { force: true });
}

/**
 * Generate (or reuse) the synthetic parts dataset in `opts.dir`. Same options and
 * GENERATOR_VERSION give byte-identical files on the same sharp/libvips build.
 */
export async function generatePartsDataset(opts: PartsDatasetOptions): Promise<PartsDatasetResult> {
  if (typeof opts?.dir !== 'string' || opts.dir.length === 0) throw new InputError('dir: expected the output directory path');
  const params = resolvePartsDatasetParams(opts);
  const concurrency = checkInt('concurrency', opts.concurrency ?? 4, 1, 64);
  const dir = opts.dir;
  const table = classAttributes(params.classes, params.attributeSeed);
  const list = imageList(params, table);
  const result = (reused: boolean): PartsDatasetResult => ({
    dir,
    classes: table.map((c) => c.folder),
    parts: [...PART_NAMES],
    counts: {
      classes: params.classes,
      train: params.classes * params.trainPerClass,
      test: params.classes * params.testPerClass,
      images: list.length,
    },
    seed: params.seed,
    version: GENERATOR_VERSION,
    reused,
    params,
    classTable: table,
  });
  if (!opts.force && (await isComplete(dir, params, list.length))) return result(true);

  await prepareDir(dir);
  await writeFileAtomic(join(dir, DATASET_CLAIM_FILE), stableJson({ generator: 'protolens synthetic parts dataset', generatorVersion: GENERATOR_VERSION, params }));

  const scene: SceneOptions = {
    size: params.size,
    rotationDeg: params.rotationDeg,
    flipProbability: params.flipProbability,
    bboxFraction: params.bboxFraction,
    occlusionRate: params.occlusionRate,
    noiseSigma: params.noiseSigma,
    clutter: params.clutter,
  };
  const root = new Rng(params.seed);
  const records = await mapLimit(list, concurrency, async (item): Promise<ImageRecord> => {
    const plan = planScene(table[item.classIndex].attributes, scene, root.fork(item.id));
    const rgb = await renderScene(plan, params.noiseSigma);
    const jpeg = await sharp(rgb, { raw: { width: params.size, height: params.size, channels: 3 } })
      .jpeg({ quality: params.jpegQuality, chromaSubsampling: '4:4:4' })
      .toBuffer();
    await writeFileAtomic(join(dir, 'images', item.relPath), jpeg);
    const mask = await sharp(await renderMask(plan), { raw: { width: params.size, height: params.size, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    await writeFileAtomic(join(dir, 'segmentations', segmentationPath(item.relPath)), mask);
    return {
      ...item,
      bbox: plan.bbox,
      keypoints: plan.keypoints,
      render: {
        flipped: plan.placement.flipped,
        rotationDeg: Number(plan.placement.rotationDeg.toFixed(3)),
        scale: Number(plan.placement.scale.toFixed(5)),
        bodyColour: plan.bodyColour,
        occluded: plan.occluder ? plan.occluder.target : null,
      },
    };
  });

  const lines = (f: (r: ImageRecord) => string) => records.map(f).join('\n') + '\n';
  await writeFileAtomic(join(dir, 'images.txt'), lines((r) => `${r.id} ${r.relPath}`));
  await writeFileAtomic(join(dir, 'classes.txt'), table.map((c) => `${c.id} ${c.folder}`).join('\n') + '\n');
  await writeFileAtomic(join(dir, 'image_class_labels.txt'), lines((r) => `${r.id} ${r.classIndex + 1}`));
  await writeFileAtomic(join(dir, 'train_test_split.txt'), lines((r) => `${r.id} ${r.isTrain ? 1 : 0}`));
  await writeFileAtomic(join(dir, 'bounding_boxes.txt'), lines((r) => `${r.id} ${num(r.bbox.x)} ${num(r.bbox.y)} ${num(r.bbox.width)} ${num(r.bbox.height)}`));
  await writeFileAtomic(join(dir, 'parts', 'parts.txt'), PART_NAMES.map((p, i) => `${i + 1} ${p}`).join('\n') + '\n');
  await writeFileAtomic(
    join(dir, 'parts', 'part_locs.txt'),
    records
      .flatMap((r) => r.keypoints.map((k, i) => (k.visible ? `${r.id} ${i + 1} ${num(k.x)} ${num(k.y)} 1` : `${r.id} ${i + 1} 0.0 0.0 0`)))
      .join('\n') + '\n',
  );
  await writeFileAtomic(join(dir, 'image_render.jsonl'), lines((r) => JSON.stringify({ id: r.id, ...r.render })));
  const res = result(false);
  await writeFileAtomic(join(dir, 'dataset.json'), stableJson(metadata(res)));
  await writeFileAtomic(join(dir, 'README.md'), readme(res));
  await writeFileAtomic(join(dir, DATASET_COMPLETE_FILE), stableJson({ generatorVersion: GENERATOR_VERSION, params, images: list.length }));
  return res;
}

/** The conventions recorded in dataset.json and README.md. */
const CONVENTIONS = {
  coordinates: 'pixels; continuous, pixel (i, j) covers [i, i+1) x [j, j+1), so int(x), int(y) is the pixel holding a keypoint',
  boundingBox: 'x y width height of the tight box around every drawn polygon of the creature (tail, legs, crest and beak included)',
  keypoint: 'a fixed point inside each part, mapped by the same transform that draws the part',
  visible: '1 when the part is drawn, inside the image and not under the occluder blob; invisible parts are written as 0.0 0.0 0',
  segmentation: "segmentations/<class>/<image>.png: one 8-bit channel, 255 on the creature's visible pixels (not under the occluder), 0 elsewhere, anti-aliased edges (threshold > 200 as PNP's comprehensiveness does)",
  sides:
    'left/right follow the creature\'s anatomy. Facing right (not flipped) it shows its right side: the right eye, wing and leg are the near ones and the left eye is hidden. Flipped, it faces left and shows its left side.',
  split: 'train_test_split.txt: 1 = train, 0 = test; per class a seeded shuffle chooses the test images',
};

function metadata(res: PartsDatasetResult): unknown {
  return {
    name: 'protolens synthetic parts dataset',
    layout: 'CUB-200-2011',
    generatorVersion: res.version,
    seed: res.seed,
    params: res.params,
    counts: res.counts,
    parts: res.parts.map((name, i) => ({ id: i + 1, name })),
    classes: res.classTable.map((c) => ({ id: c.id, name: c.name, folder: c.folder, attributes: c.attributes })),
    attributeValues: ATTRIBUTE_VALUES,
    partGroups: PART_GROUPS,
    palette: PALETTE,
    conventions: CONVENTIONS,
  };
}

function readme(res: PartsDatasetResult): string {
  const cols = Object.keys(ATTRIBUTE_VALUES) as Array<keyof typeof ATTRIBUTE_VALUES>;
  const rows = res.classTable.map((c) => `| ${c.id} | ${c.name} | ${cols.map((k) => c.attributes[k]).join(' | ')} |`);
  return [
    '# Synthetic parts dataset (CUB-200-2011 layout)',
    '',
    `Generated by protolens, generator version ${res.version}, seed ${res.seed}, attribute seed ${res.params.attributeSeed}.`,
    `${res.counts.classes} classes, ${res.params.trainPerClass} train + ${res.params.testPerClass} test images per class, ${res.params.size} x ${res.params.size} JPEG (quality ${res.params.jpegQuality}).`,
    'Drawn birds whose classes differ in part attributes; part keypoints are exact.',
    '',
    ...Object.entries(CONVENTIONS).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `| id | class | ${cols.join(' | ')} |`,
    `|---|---|${cols.map(() => '---').join('|')}|`,
    ...rows,
    '',
    `Parts: ${res.parts.map((p, i) => `${i + 1} ${p}`).join(', ')}.`,
    '',
  ].join('\n');
}
