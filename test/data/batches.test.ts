import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { batches } from '../../src/data/batches.ts';
import { normalizationTable } from '../../src/data/preprocess.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import type { Failure, ImageItem } from '../../src/data/types.ts';
import { InputError } from '../../src/util/errors.ts';
import { rawRgb, rgbImage, withTmp } from './helpers.ts';

const S = 16;
const cfg = makePreprocessConfig({ size: S, normalize: 'none' });
const colourOf = (i: number): [number, number, number] => [i * 5, 255 - i * 3, (i * 37) % 256];

/** n images of 24 x 20 (resized to 16 x 16), image i filled with colourOf(i); `bad` maps index -> bytes. */
async function makeItems(dir: string, n: number, bad: Record<number, Buffer> = {}): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  for (let i = 0; i < n; i++) {
    const path = join(dir, `img${i}.png`);
    if (bad[i]) await writeFile(path, bad[i]);
    else await rawRgb(rgbImage(24, 20, () => colourOf(i)), 24, 20).png().toFile(path);
    items.push({ index: i, id: `img${i}`, path, label: i % 3 });
  }
  return items;
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await sleep(5);
  }
}

test('batches keep input order; failures are skipped, listed in their own batch and reported in order', async () => {
  await withTmp(async (dir) => {
    const items = await makeItems(dir, 23, { 6: Buffer.alloc(0), 13: Buffer.from('garbage bytes') });
    const reported: Failure[] = [];
    const stream = batches(items, cfg, { batchSize: 5, prefetch: 2, concurrency: 3, onFailure: (f) => reported.push(f) });
    const lut = normalizationTable(cfg);
    const got: number[][] = [];
    for await (const b of stream) {
      got.push(b.items.map((i) => i.index));
      assert.deepEqual(b.shape, [b.items.length, 3, S, S]);
      assert.equal(b.tensor.length, b.items.length * 3 * S * S);
      assert.equal(b.parts.length, b.items.length);
      assert.equal(b.geometries.length, b.items.length);
      b.items.forEach((it, k) => {
        const [r, g, bl] = colourOf(it.index);
        const base = k * 3 * S * S;
        // constant images stay constant through resize, so every value is the channel's normalised colour
        assert.equal(b.tensor[base], lut[r]);
        assert.equal(b.tensor[base + S * S + 37], lut[256 + g]);
        assert.equal(b.tensor[base + 2 * S * S + S * S - 1], lut[512 + bl]);
      });
      const fails = b.failures.map((f) => f.index);
      if (b.index === 1) assert.deepEqual(fails, [6]);
      else if (b.index === 2) assert.deepEqual(fails, [13]);
      else assert.deepEqual(fails, []);
    }
    assert.deepEqual(got, [[0, 1, 2, 3, 4], [5, 7, 8, 9], [10, 11, 12, 14], [15, 16, 17, 18, 19], [20, 21, 22]]);
    assert.deepEqual(reported.map((f) => [f.index, f.id, f.path]), [
      [6, 'img6', items[6].path],
      [13, 'img13', items[13].path],
    ]);
    assert.equal(reported[0].reason, 'empty file');
    assert.match(reported[1].reason, /not a recognised image/);
    assert.deepEqual(stream.failures, reported);
    assert.equal(stream.stats.decoded, 21);
    assert.equal(stream.stats.failed, 2);
    assert.ok(stream.stats.maxInFlight <= 3);
  });
});

test('keepPictures: each image as the model saw it, as JPEG, in item order; failures have none', async () => {
  await withTmp(async (dir) => {
    const items = await makeItems(dir, 7, { 3: Buffer.from('garbage bytes') });
    const { decodeJpeg } = await import('../../src/data/load.ts');
    const seen: number[] = [];
    for await (const b of batches(items, cfg, { batchSize: 4, keepPictures: { quality: 95 } })) {
      assert.equal(b.pictures.length, b.items.length);
      for (const [k, it] of b.items.entries()) {
        const rgb = await decodeJpeg(b.pictures[k]);
        assert.deepEqual([rgb.width, rgb.height], [S, S]);
        const want = colourOf(it.index);
        for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(rgb.data[p * 3 + c] - want[c]) <= 2, `image ${it.index} pixel ${p}`);
        seen.push(it.index);
      }
    }
    assert.deepEqual(seen, [0, 1, 2, 4, 5, 6]);
    for await (const b of batches(items.slice(0, 2), cfg, { batchSize: 4 })) assert.deepEqual(b.pictures, [], 'not kept unless asked');
    assert.throws(() => batches(items, cfg, { keepPictures: { quality: 0 } }), /keepPictures.quality must be an integer from 1 to 100/);
  });
});

test('strict: earlier batches are delivered, then the bad file is an InputError naming it', async () => {
  await withTmp(async (dir) => {
    const items = await makeItems(dir, 12, { 7: Buffer.alloc(0) });
    const stream = batches(items, cfg, { batchSize: 4, strict: true, concurrency: 2 });
    const first = await stream.next();
    assert.equal(first.done, false);
    assert.deepEqual(first.value!.items.map((i) => i.index), [0, 1, 2, 3]);
    await assert.rejects(stream.next(), (e: unknown) => e instanceof InputError && e.message.includes(items[7].path) && /empty file/.test(e.message));
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });
});

test('decoding runs ahead of the consumer, bounded by prefetch and concurrency', async () => {
  await withTmp(async (dir) => {
    const items = await makeItems(dir, 40);
    let pulled = 0;
    function* source(): Generator<ImageItem> {
      for (const it of items) {
        pulled++;
        yield it;
      }
    }
    const stream = batches(source(), cfg, { batchSize: 4, prefetch: 2, concurrency: 2 }).start();
    // before the consumer asks for anything, the first `prefetch` batches are decoded
    await waitFor(() => stream.stats.decoded === 8);
    await sleep(100);
    assert.equal(stream.stats.decodesStarted, 8, 'no more than prefetch batches ahead');
    assert.equal(pulled, 8, 'the source is read lazily');
    const b0 = await stream.next();
    assert.deepEqual(b0.value!.items.map((i) => i.index), [0, 1, 2, 3]);
    assert.equal(stream.stats.consumerWaits, 0, 'the first batch was ready when asked for');
    // while the consumer holds batch 0, batches 1 and 2 are decoded without being asked for
    await waitFor(() => stream.stats.decoded === 12);
    await sleep(100);
    assert.equal(stream.stats.decodesStarted, 12);
    const rest: number[] = [];
    for await (const b of stream) rest.push(...b.items.map((i) => i.index));
    assert.deepEqual(rest, [...Array(36).keys()].map((i) => i + 4));
    assert.ok(stream.stats.maxInFlight <= 2, `maxInFlight ${stream.stats.maxInFlight}`);
    assert.equal(stream.stats.maxInFlight, 2);
  });
});

test('breaking out early stops reading; async sources and their errors are handled; an all-failed batch is still reported', async () => {
  await withTmp(async (dir) => {
    const items = await makeItems(dir, 30, { 4: Buffer.alloc(0), 5: Buffer.alloc(0) });
    let pulled = 0;
    async function* slow(): AsyncGenerator<ImageItem> {
      for (const it of items) {
        pulled++;
        await sleep(1);
        yield it;
      }
    }
    const stream = batches(slow(), cfg, { batchSize: 2, prefetch: 1 });
    const seen: number[][] = [];
    for await (const b of stream) {
      seen.push([...b.items.map((i) => i.index), ...b.failures.map((f) => -f.index)]);
      if (b.index === 3) break;
    }
    assert.deepEqual(seen, [[0, 1], [2, 3], [-4, -5], [6, 7]]);
    await sleep(50);
    assert.ok(pulled <= 12, `read ${pulled} items after stopping at batch 3`);

    async function* broken(): AsyncGenerator<ImageItem> {
      yield items[0];
      throw new InputError('listing failed: class folder vanished');
    }
    const s2 = batches(broken(), cfg, { batchSize: 4 });
    await assert.rejects(s2.next(), /listing failed/);

    const empty = batches([], cfg);
    assert.deepEqual(await empty.next(), { done: true, value: undefined });
    assert.throws(() => batches(items, cfg, { prefetch: 0 }), /prefetch must be an integer >= 1/);
  });
});
