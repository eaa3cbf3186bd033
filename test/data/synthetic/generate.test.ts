import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { DATASET_COMPLETE_FILE, GENERATOR_VERSION, generatePartsDataset, type PartsDatasetOptions } from '../../../src/data/synthetic/generate.ts';
import { PART_NAMES } from '../../../src/data/synthetic/creature.ts';
import { contactSheet } from '../../../src/data/synthetic/contact-sheet.ts';
import { readCubFiles } from '../../../src/data/synthetic/cub-files.ts';
import { InputError } from '../../../src/util/errors.ts';
import { openCub } from '../../../src/data/cub.ts';

// Small datasets: 10 classes (the minimum) x (2 train + 2 test) images.
const SMALL = { classes: 10, trainPerClass: 2, testPerClass: 2, seed: 5 } as const;
let root: string;
let dirA: string;

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  await walk(dir);
  return out;
}

const gen = (dir: string, extra: Partial<PartsDatasetOptions> = {}) => generatePartsDataset({ dir, ...SMALL, ...extra });

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-parts-'));
  dirA = join(root, 'a');
  await gen(dirA);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('determinism: same options (any concurrency) give byte-identical files; another seed gives other images and keypoints', async () => {
  const dirB = join(root, 'b');
  const r = await gen(dirB, { concurrency: 1 });
  assert.equal(r.reused, false);
  const files = await listFiles(dirA);
  assert.deepEqual(await listFiles(dirB), files);
  for (const f of files) assert.ok((await readFile(join(dirA, f))).equals(await readFile(join(dirB, f))), `${f} differs`);

  const dirC = join(root, 'c');
  await gen(dirC, { seed: 6 });
  const img = '001.' + (await readFile(join(dirA, 'classes.txt'), 'utf8')).split('\n')[0].split('.')[1];
  const first = (await readdir(join(dirA, 'images', img)))[0];
  assert.ok(!(await readFile(join(dirA, 'images', img, first))).equals(await readFile(join(dirC, 'images', img, first))));
  assert.notEqual(await readFile(join(dirA, 'parts/part_locs.txt'), 'utf8'), await readFile(join(dirC, 'parts/part_locs.txt'), 'utf8'));
  assert.notEqual(await readFile(join(dirA, 'bounding_boxes.txt'), 'utf8'), await readFile(join(dirC, 'bounding_boxes.txt'), 'utf8'));
  // The class table has its own seed: same classes.
  assert.equal(await readFile(join(dirA, 'classes.txt'), 'utf8'), await readFile(join(dirC, 'classes.txt'), 'utf8'));
  await rm(dirB, { recursive: true });
  await rm(dirC, { recursive: true });
});

test('layout: CUB files consistent, counts right, images are 96x96 JPEGs, boxes and visible parts inside the image', async () => {
  const L = await readCubFiles(dirA);
  assert.equal(L.classes.length, 10);
  assert.deepEqual(L.parts, [...PART_NAMES]);
  assert.equal((await readFile(join(dirA, 'parts/parts.txt'), 'utf8')).split('\n')[0], '1 back');
  assert.equal(L.images.length, 40);
  const classesTxt = (await readFile(join(dirA, 'classes.txt'), 'utf8')).trim().split('\n');
  classesTxt.forEach((l, i) => assert.match(l, new RegExp(`^${i + 1} ${String(i + 1).padStart(3, '0')}\\.[A-Za-z_]+$`)));
  for (let c = 1; c <= 10; c++) {
    const ims = L.images.filter((im) => im.classId === c);
    assert.equal(ims.filter((im) => im.isTrain).length, 2);
    assert.equal(ims.filter((im) => !im.isTrain).length, 2);
    const cls = L.classes[c - 1];
    for (const im of ims) assert.match(im.path, new RegExp(`^${cls.replace('.', '\\.')}/${cls.slice(4)}_\\d{4}\\.jpg$`));
  }
  const render = (await readFile(join(dirA, 'image_render.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const onDisk = (await listFiles(join(dirA, 'images'))).sort();
  assert.deepEqual(onDisk, L.images.map((im) => im.path).sort(), 'exactly the listed images exist');
  for (const im of L.images) {
    const meta = await sharp(join(dirA, 'images', im.path)).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 96);
    assert.equal(meta.height, 96);
    assert.equal(meta.chromaSubsampling, '4:4:4');
    const [x, y, w, h] = im.bbox;
    assert.ok(x >= 0 && y >= 0 && x + w <= 96 && y + h <= 96, `image ${im.id}: box ${im.bbox} outside the image`);
    assert.ok(Math.max(w, h) >= 0.45 * 96 && Math.max(w, h) <= 0.85 * 96 + 0.01, `image ${im.id}: box side ${Math.max(w, h)}`);
    for (const [pi, p] of im.parts.entries()) {
      if (!p.visible) {
        assert.deepEqual([p.x, p.y], [0, 0]);
        continue;
      }
      assert.ok(p.x >= x - 1 && p.x <= x + w + 1 && p.y >= y - 1 && p.y <= y + h + 1, `image ${im.id}: ${L.parts[pi]} outside its box`);
      assert.ok(p.x >= 0 && p.x < 96 && p.y >= 0 && p.y < 96);
    }
    // Exactly one eye is drawn: the right one when the creature faces right (not flipped).
    const flipped = render[im.id - 1].flipped as boolean;
    const hidden = flipped ? 'right eye' : 'left eye';
    assert.equal(im.parts[PART_NAMES.indexOf(hidden)].visible, false, `image ${im.id}: ${hidden} must be hidden`);
    if (render[im.id - 1].occluded === null) {
      assert.equal(im.parts.filter((p) => p.visible).length, 14, `image ${im.id}: 14 parts visible without occluder`);
    }
  }
  const meta = JSON.parse(await readFile(join(dirA, 'dataset.json'), 'utf8'));
  assert.equal(meta.generatorVersion, GENERATOR_VERSION);
  assert.equal(meta.seed, 5);
  assert.equal(meta.classes.length, 10);
  assert.equal(meta.parts.length, 15);
  assert.ok(meta.classes[0].attributes.tailShape);
});

test('caching: a second call reuses the directory without writing', async () => {
  const before = await stat(join(dirA, 'parts/part_locs.txt'));
  const t = performance.now();
  const r = await gen(dirA);
  assert.equal(r.reused, true);
  assert.ok(performance.now() - t < 2000);
  assert.equal((await stat(join(dirA, 'parts/part_locs.txt'))).mtimeMs, before.mtimeMs);
  assert.equal(r.counts.images, 40);
  assert.equal(r.classes.length, 10);
  assert.equal(r.parts.length, 15);
});

test('caching: a directory without the completion marker, or with a missing image, is regenerated to the same bytes', async () => {
  const dir = join(root, 'partial');
  await gen(dir);
  const file = join(dir, 'images', (await readCubFiles(dir)).images[7].path);
  const good = await readFile(file);
  // Interrupted run: marker missing, one image truncated, a stray temp file.
  await unlink(join(dir, DATASET_COMPLETE_FILE));
  await writeFile(file, good.subarray(0, 100));
  await writeFile(join(dir, 'images.txt.123.abcd.tmp'), 'junk');
  const r = await gen(dir);
  assert.equal(r.reused, false);
  assert.ok((await readFile(file)).equals(good));
  assert.ok(!(await listFiles(dir)).some((f) => f.endsWith('.tmp')));
  // Marker present but an image gone.
  await unlink(file);
  assert.equal((await gen(dir)).reused, false);
  assert.ok((await readFile(file)).equals(good));
  assert.equal((await gen(dir)).reused, true);
  await rm(dir, { recursive: true });
});

test('caching: other options regenerate and leave no stale files', async () => {
  const dir = join(root, 'resize');
  await gen(dir, { trainPerClass: 3 });
  assert.equal((await readCubFiles(dir)).images.length, 50);
  const r = await gen(dir);
  assert.equal(r.reused, false);
  const L = await readCubFiles(dir);
  assert.equal(L.images.length, 40);
  assert.deepEqual((await listFiles(join(dir, 'images'))).sort(), L.images.map((im) => im.path).sort());
  await rm(dir, { recursive: true });
});

test('a non-empty directory that is not a generated dataset is refused; bad options name the option', async () => {
  const dir = join(root, 'foreign');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'notes.txt'), 'mine');
  await assert.rejects(gen(dir), (e: unknown) => e instanceof InputError && /not a generated parts dataset/.test(e.message));
  assert.equal(await readFile(join(dir, 'notes.txt'), 'utf8'), 'mine');
  await assert.rejects(gen(join(root, 'bad'), { size: 10 }), /size: expected an integer from 32 to 1024, got 10/);
  await assert.rejects(gen(join(root, 'bad'), { occlusionRate: 2 }), /occlusionRate: expected a finite number from 0 to 1, got 2/);
  await assert.rejects(gen(join(root, 'bad'), { bboxFraction: [0.8, 0.5] }), /bboxFraction: low 0.8 is above high 0.5/);
  await rm(dir, { recursive: true });
});

test('contact sheet: one row per class, keypoint marks drawn at the keypoints', async () => {
  const out = join(root, 'sheet.png');
  const r = await contactSheet(dirA, out, { perClass: 2, cell: 192, keypoints: true, palette: 0 });
  assert.equal(r.images, 20);
  const meta = await sharp(out).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, r.width);
  assert.equal(meta.height, r.height);
  assert.ok(r.height >= 10 * 192);
  // The tail mark (far from other parts) sits at the tail keypoint of the first test image of class 1.
  const L = await readCubFiles(dirA);
  const im = L.images.find((x) => x.classId === 1 && !x.isTrain)!;
  const tail = im.parts[PART_NAMES.indexOf('tail')];
  assert.ok(tail.visible);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  const labelW = r.width - 2 * (192 + 2);
  const px = Math.floor(labelW + tail.x * 2);
  const py = Math.floor(tail.y * 2);
  const i = (py * info.width + px) * info.channels;
  assert.deepEqual([...data.subarray(i, i + 3)], [0xff, 0xfa, 0xc8], 'tail mark colour (#fffac8) at the tail keypoint');
});

test('the project CUB reader (openCub) reads the dataset: test split, classes, parts, boxes, truncated keypoints', async () => {
  const ds = await openCub(dirA, { split: 'test' });
  const mine = await readCubFiles(dirA);
  assert.equal(ds.size, 20);
  assert.deepEqual(ds.classNames, mine.classes);
  assert.deepEqual(ds.partNames, [...PART_NAMES]);
  for await (const item of ds.items()) {
    const ref = mine.images[Number(item.id) - 1];
    assert.equal(ref.isTrain, false);
    assert.equal(item.label, ref.classId - 1);
    assert.deepEqual([item.bbox!.x, item.bbox!.y, item.bbox!.w, item.bbox!.h], ref.bbox);
    assert.equal(item.parts!.length, 15);
    for (const p of item.parts!) {
      const q = ref.parts[p.partId - 1];
      assert.equal(p.visible, q.visible);
      assert.deepEqual([p.x, p.y], [Math.trunc(q.x), Math.trunc(q.y)]);
    }
  }
});

test('segmentations: one mask per image in CUB layout, foreground on every visible keypoint, its extent the bounding box', async () => {
  const ds = await openCub(dirA, { split: 'all' });
  let items = 0;
  const boxes = new Map((await readFile(join(dirA, 'bounding_boxes.txt'), 'utf8')).trim().split('\n').map((l) => {
    const [id, x, y, w, h] = l.split(' ').map(Number);
    return [String(id), { x, y, w, h }] as const;
  }));
  for await (const it of ds.items()) {
    items++;
    assert.ok(it.segmentation, `image ${it.id} has its mask path`);
    assert.ok(it.segmentation!.endsWith(it.path.slice(join(dirA, 'images').length).replace(/\.jpg$/, '.png')));
    const meta = await sharp(it.segmentation!).metadata();
    const { data } = await sharp(it.segmentation!).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const [iw, ih] = [(await sharp(it.path).metadata()).width!, (await sharp(it.path).metadata()).height!];
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.format], [iw, ih, 1, 'png'], 'one grey channel, the image\'s size');
    // A visible keypoint lies on the foreground (thin parts such as legs are a pixel or two wide and
    // anti-aliased: its 3 x 3 neighbourhood holds a foreground pixel).
    for (const p of it.parts!) {
      if (!p.visible) continue;
      const [px, py] = [Math.trunc(p.x), Math.trunc(p.y)];
      let best = 0;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) best = Math.max(best, data[Math.min(ih - 1, Math.max(0, py + dy)) * iw + Math.min(iw - 1, Math.max(0, px + dx))]);
      assert.ok(best > 200, `image ${it.id}: visible part ${p.partId} at (${px}, ${py}) lies on the foreground (mask ${data[py * iw + px]}, best neighbour ${best})`);
    }
    // The foreground's extent (pixels > 200) lies inside the tight box of the drawn polygons.
    const b = boxes.get(it.id)!;
    let [x1, y1, x2, y2] = [iw, ih, -1, -1];
    for (let y = 0; y < ih; y++) for (let x = 0; x < iw; x++) if (data[y * iw + x] > 200) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x), Math.max(y2, y)];
    assert.ok(x1 >= Math.floor(b.x) - 1 && y1 >= Math.floor(b.y) - 1 && x2 <= Math.ceil(b.x + b.w) && y2 <= Math.ceil(b.y + b.h), `image ${it.id}: foreground ${[x1, y1, x2, y2]} vs box ${JSON.stringify(b)}`);
    assert.ok((x2 - x1) >= 0.5 * b.w && (y2 - y1) >= 0.5 * b.h, `image ${it.id}: the foreground spans most of the box`);
  }
  assert.equal(items, 40);
  // A dataset written before masks existed (no segmentations/) is not reused: it is generated again.
  await rm(join(dirA, 'segmentations'), { recursive: true });
  const again = await gen(dirA);
  assert.equal(again.reused, false);
  assert.ok((await readdir(join(dirA, 'segmentations'))).length === 10);
});
