import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCub, truncateFloat, truncateLikeReference } from '../../src/data/cub.ts';
import { checkClassCount } from '../../src/data/dataset.ts';
import { cropFromBox, computeGeometry, mapPoint } from '../../src/data/geometry.ts';
import { decodeForDisplay, loadImage } from '../../src/data/load.ts';
import { openDataset } from '../../src/data/open.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { partColour, writeCubFixture } from '../helpers/cub-fixture.ts';
import type { ImageItem } from '../../src/data/types.ts';
import { InputError } from '../../src/util/errors.ts';
import { pixel, withTmp } from './helpers.ts';

async function all(it: AsyncIterable<ImageItem>): Promise<ImageItem[]> {
  const out: ImageItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('bounding-box truncation and part-coordinate truncation follow the reference by hand', () => {
  // 10.7, 20.2, 100.9, 50.5 -> x1 = 10, y1 = 20, x2 = 10 + 100 = 110, y2 = 20 + 50 = 70
  assert.deepEqual(cropFromBox({ x: 10.7, y: 20.2, w: 100.9, h: 50.5 }), { x1: 10, y1: 20, x2: 110, y2: 70 });
  assert.equal(truncateLikeReference('10.7'), 10);
  assert.equal(truncateLikeReference('-0.5'), 0); // int('-0')
  assert.equal(truncateLikeReference('60'), 60);
  assert.equal(truncateLikeReference('.5'), undefined); // int('') fails in the reference too
  assert.equal(truncateFloat('312.9'), 312);
  assert.equal(truncateFloat('-3.7'), -3);
  assert.equal(truncateFloat('1e2'), 100);
  assert.equal(truncateFloat('abc'), undefined);
  // the reference's part mapping: int(224 * (px - x1) / (x2 - x1))
  const g = computeGeometry(200, 150, { x1: 10, y1: 20, x2: 110, y2: 70 }, makePreprocessConfig({ size: 224, cropToBox: true }));
  assert.deepEqual(mapPoint(g, 60, 45), { x: 112, y: 112 }); // 224 * 50 / 100, 224 * 25 / 50
  assert.deepEqual(mapPoint(g, 33, 21), { x: 51, y: 4 }); // int(51.52), int(4.48)
  assert.deepEqual(mapPoint(g, 5, 70), { x: -11, y: 224 }); // int(-11.2) truncates toward zero
});

test('a generated CUB layout opens with classes by id, splits, boxes and parts as written', async () => {
  await withTmp(async (dir) => {
    const fx = await writeCubFixture(dir, { classes: 3, imagesPerClass: [4, 3, 5], partNames: ['beak', 'left eye', 'right wing'] });
    const ds = await openDataset(dir); // auto-detected
    assert.equal(ds.format, 'cub');
    assert.deepEqual(ds.classNames, ['001.class_1', '002.class_2', '003.class_3']);
    assert.deepEqual(ds.partNames, ['beak', 'left eye', 'right wing']);
    assert.equal(ds.size, 12);
    assert.deepEqual(ds.classSizes, [4, 3, 5]);
    const items = await all(ds.items());
    assert.deepEqual(items.map((i) => i.id), fx.images.map((i) => String(i.id)));
    for (const [k, it] of items.entries()) {
      const w = fx.images[k];
      assert.equal(it.index, k);
      assert.equal(it.label, w.classIndex);
      assert.equal(it.path, w.path);
      assert.equal(it.isTrain, w.isTrain);
      assert.deepEqual(it.bbox, w.bbox);
      assert.deepEqual(it.crop, cropFromBox(w.bbox));
      assert.deepEqual(it.parts, w.parts.map((p) => ({ partId: p.partId, x: Math.trunc(p.x), y: Math.trunc(p.y), visible: p.visible })));
    }
    assert.ok(items.some((i) => i.parts!.some((p) => !p.visible)), 'fixture has invisible parts, kept with their flag');
    const test_ = await openDataset(dir, { split: 'test' });
    const train = await openDataset(dir, { split: 'train' });
    assert.equal(test_.size + train.size, 12);
    assert.deepEqual((await all(test_.items())).map((i) => i.id), fx.images.filter((i) => !i.isTrain).map((i) => String(i.id)));
    assert.deepEqual((await all(test_.items())).map((i) => i.index), [...Array(test_.size).keys()]);
    const c2 = await train.itemsOfClass(2);
    assert.deepEqual(c2.map((i) => i.id), fx.images.filter((i) => i.isTrain && i.classIndex === 2).map((i) => String(i.id)));
    assert.doesNotThrow(() => checkClassCount(ds, 3, 'model.onnx'));
    assert.throws(() => checkClassCount(ds, 200, 'model.onnx'), (e: unknown) => e instanceof InputError && /has 3 classes but model\.onnx has 200 outputs/.test(e.message));
  });
});

test('crop to box + stretch: pixels come from the box and visible parts land on their markers', async () => {
  await withTmp(async (dir) => {
    const fx = await writeCubFixture(dir, { classes: 2, imagesPerClass: 3, width: 120, height: 90, invisibleEvery: 0 });
    const ds = await openCub(dir, { split: 'all' });
    const items = await all(ds.items());
    for (const it of items) {
      const w = fx.images[it.index];
      const c = it.crop!;
      // at the box's own size the crop passes through unresized: every pixel is the box colour or a marker
      const own = makePreprocessConfig({ size: [c.y2 - c.y1, c.x2 - c.x1], cropToBox: true });
      const d = await decodeForDisplay(it, own);
      assert.deepEqual(d.geometry.resized, { width: c.x2 - c.x1, height: c.y2 - c.y1 });
      for (const p of d.parts!) {
        assert.deepEqual([p.x, p.y], [Math.trunc(w.parts[p.partId - 1].x) - c.x1, Math.trunc(w.parts[p.partId - 1].y) - c.y1]);
        assert.deepEqual(pixel(d.input.data, d.input.width, p.x, p.y), partColour(p.partId));
      }
      assert.deepEqual(pixel(d.input.data, d.input.width, 0, 0), w.colours.inside);
      assert.deepEqual(pixel(d.input.data, d.input.width, d.input.width - 1, d.input.height - 1), w.colours.inside);
      // stretched to 224 x 224 (enlarged): mapped parts follow int(224 * (px - x1) / (x2 - x1))
      const cfg = makePreprocessConfig({ size: 224, cropToBox: true, interpolation: 'nearest' });
      const r = await loadImage(it, cfg, { keepRgb: true });
      for (const p of r.parts!) {
        const src = w.parts[p.partId - 1];
        assert.equal(p.x, Math.trunc((224 * (Math.trunc(src.x) - c.x1)) / (c.x2 - c.x1)));
        assert.equal(p.y, Math.trunc((224 * (Math.trunc(src.y) - c.y1)) / (c.y2 - c.y1)));
        assert.equal(p.inFrame, true);
        assert.deepEqual(pixel(r.rgb!.data, 224, p.x, p.y), partColour(p.partId), `part ${p.partId} of image ${it.id}`);
      }
      assert.deepEqual(pixel(r.rgb!.data, 224, 0, 0), w.colours.inside);
    }
    const noBox = makePreprocessConfig({ size: 224 });
    const whole = await decodeForDisplay(items[0], noBox);
    assert.deepEqual(whole.geometry.crop, { x1: 0, y1: 0, x2: 120, y2: 90 });
    assert.deepEqual(pixel(whole.input.data, 224, 0, 0), fx.images[0].colours.outside);
  });
});

test('missing and malformed annotation files are InputErrors naming the file and line', async () => {
  await withTmp(async (dir) => {
    await writeCubFixture(dir, { classes: 2, imagesPerClass: 2 });
    const orig: Record<string, string> = {};
    for (const f of ['images.txt', 'image_class_labels.txt', 'train_test_split.txt', 'bounding_boxes.txt', 'parts/part_locs.txt', 'classes.txt']) {
      orig[f] = await readFile(join(dir, f), 'utf8');
    }
    const expectError = async (file: string, text: string, re: RegExp, split: 'all' | 'test' = 'all') => {
      await writeFile(join(dir, file), text);
      await assert.rejects(openCub(dir, { split }), (e: unknown) => e instanceof InputError && re.test(e.message), `${file}: ${re}`);
      await writeFile(join(dir, file), orig[file]);
    };
    await expectError('bounding_boxes.txt', orig['bounding_boxes.txt'].replace(/^2 .*$/m, '2 10.5 abc 3 4'), /bounding_boxes\.txt line 2: expected '<image_id> <x> <y> <width> <height>' with numbers, got '2 10\.5 abc 3 4'/);
    await expectError('bounding_boxes.txt', orig['bounding_boxes.txt'].replace(/^3 .*$/m, '3 1 2 3'), /bounding_boxes\.txt line 3: expected/);
    await expectError('bounding_boxes.txt', orig['bounding_boxes.txt'].replace(/^4 .*$/m, ''), /bounding_boxes\.txt has no line for image 4/);
    await expectError('image_class_labels.txt', orig['image_class_labels.txt'].replace(/^1 1$/m, '1 9'), /image_class_labels\.txt line 1: expected a class id listed in classes\.txt/);
    await expectError('images.txt', orig['images.txt'].replace(/^2 /m, 'two '), /images\.txt line 2: expected '<image_id> <image_name>'/);
    await expectError('train_test_split.txt', orig['train_test_split.txt'].replace(/^1 [01]$/m, '1 yes'), /train_test_split\.txt line 1: expected '<image_id> <is_training_image>' with 0 or 1/, 'test');
    await expectError('parts/part_locs.txt', orig['parts/part_locs.txt'].replace(/^(1 2 \S+ \S+) [01]$/m, '$1 7'), /parts\/part_locs\.txt line 2: expected .* with visible 0 or 1/);
    await expectError('parts/part_locs.txt', orig['parts/part_locs.txt'] + '99 1 3.0 4.0 1\n', /part_locs\.txt line \d+: expected .* with an image id listed in images\.txt/);
    await rm(join(dir, 'train_test_split.txt'));
    await assert.rejects(openCub(dir, { split: 'train' }), /cannot read train_test_split\.txt \(missing\)/);
    assert.equal((await openCub(dir, { split: 'all' })).size, 4, "split 'all' does not need train_test_split.txt");
    await rm(join(dir, 'parts', 'parts.txt'));
    await assert.rejects(openCub(dir), /parts\/parts\.txt is missing \(the parts files come as a pair\)/);
    await rm(join(dir, 'images.txt'));
    await assert.rejects(openCub(dir), /cannot read images\.txt \(missing\)/);
  });
});

test('cropToBox on an item without a box is an InputError naming the item', async () => {
  await withTmp(async (dir) => {
    const fx = await writeCubFixture(dir, { classes: 1, imagesPerClass: 1 });
    await assert.rejects(
      loadImage({ id: 'x', path: fx.images[0].path }, makePreprocessConfig({ cropToBox: true })),
      (e: unknown) => e instanceof InputError && /cropToBox is set but image x .* has no bounding box/.test(e.message),
    );
  });
});
