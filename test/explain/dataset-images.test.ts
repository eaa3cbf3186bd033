import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { writeCubFixture } from '../helpers/cub-fixture.ts';
import { datasetImageSources } from '../../src/explain/dataset-images.ts';

test('image paths are matched to their dataset items (with boxes), in the order given; unknown paths stay paths', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dsimg-'));
  await writeCubFixture(dir, { classes: 2, imagesPerClass: 3 });
  // images.txt lists "id relative/path"; the bounding box of id i is line i of bounding_boxes.txt
  const images = (await readFile(join(dir, 'images.txt'), 'utf8')).trim().split('\n').map((l) => l.split(' '));
  const boxes = new Map((await readFile(join(dir, 'bounding_boxes.txt'), 'utf8')).trim().split('\n').map((l) => {
    const [id, x, y, w, h] = l.split(' ');
    return [id, { x: Number(x), y: Number(y), w: Number(w), h: Number(h) }] as const;
  }));
  const second = join(dir, 'images', images[4][1]);
  const first = relative(process.cwd(), join(dir, 'images', images[1][1])); // a relative path works too
  const stranger = join(dir, 'not-in-dataset.png');
  const { sources, matched } = await datasetImageSources([second, stranger, first], dir);
  assert.equal(matched, 2);
  assert.equal(sources[1], stranger);
  const a = sources[0] as { path: string; id: string; bbox?: unknown };
  const b = sources[2] as { path: string; id: string; bbox?: unknown };
  assert.equal(a.path, second);
  assert.equal(b.path, first, 'the path is kept as given');
  assert.deepEqual(a.bbox, boxes.get(images[4][0]));
  assert.deepEqual(b.bbox, boxes.get(images[1][0]));
});
