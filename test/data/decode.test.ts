import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { DecodeFailure, decodeRgb } from '../../src/data/decode.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { InputError } from '../../src/util/errors.ts';
import { pixel, rawRgb, rgbImage, withTmp } from './helpers.ts';

const cfg = makePreprocessConfig();
const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const near = (a: number[], b: number[], tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

/** 64 x 32 blue picture with an 8 x 8 red block in the top-left corner. */
const corner = () => rgbImage(64, 32, (x, y) => (x < 8 && y < 8 ? RED : BLUE));

test('JPEG, PNG, WebP and TIFF decode to 8-bit RGB of the right size and colours', async () => {
  await withTmp(async (dir) => {
    const writers: Record<string, (s: Sharp) => Sharp> = {
      'a.jpg': (s) => s.jpeg({ quality: 95 }),
      'a.png': (s) => s.png(),
      'a.webp': (s) => s.webp({ quality: 95 }),
      'a.tif': (s) => s.tiff(),
    };
    for (const [name, w] of Object.entries(writers)) {
      await w(rawRgb(corner(), 64, 32)).toFile(join(dir, name));
      const img = await decodeRgb(join(dir, name), cfg);
      assert.equal(img.width, 64, name);
      assert.equal(img.height, 32, name);
      assert.equal(img.data.length, 64 * 32 * 3, name);
      assert.ok(near(pixel(img.data, 64, 2, 2), RED, 12), `${name}: top-left ${pixel(img.data, 64, 2, 2)}`);
      assert.ok(near(pixel(img.data, 64, 40, 20), BLUE, 12), `${name}: centre ${pixel(img.data, 64, 40, 20)}`);
    }
  });
});

test('EXIF orientation 6 is applied: the top-left red block lands top-right of a 32 x 64 image', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 'rot.jpg');
    await rawRgb(corner(), 64, 32).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(p);
    assert.equal((await sharp(p).metadata()).orientation, 6);
    const img = await decodeRgb(p, cfg);
    assert.equal(img.width, 32);
    assert.equal(img.height, 64);
    // orientation 6: rotate 90 degrees clockwise for display; stored (0, 0) goes to (H - 1, 0)
    assert.ok(near(pixel(img.data, 32, 29, 2), RED, 12), `top-right ${pixel(img.data, 32, 29, 2)}`);
    assert.ok(near(pixel(img.data, 32, 2, 2), BLUE, 12), `top-left ${pixel(img.data, 32, 2, 2)}`);
    const raw = await decodeRgb(p, { ...cfg, exifOrientation: false });
    assert.equal(raw.width, 64, 'with exifOrientation off the stored orientation is kept');
  });
});

test('grayscale, 16-bit and CMYK inputs come out as 8-bit sRGB RGB', async () => {
  await withTmp(async (dir) => {
    const g = join(dir, 'gray.png');
    await sharp(Buffer.alloc(16 * 8, 77), { raw: { width: 16, height: 8, channels: 1 } }).toColourspace('b-w').png().toFile(g);
    assert.equal((await sharp(g).metadata()).channels, 1);
    const gi = await decodeRgb(g, cfg);
    assert.deepEqual(pixel(gi.data, 16, 3, 3), [77, 77, 77]);

    const p16 = join(dir, 'deep.png');
    const u16 = new Uint16Array(8 * 8 * 3);
    for (let i = 0; i < u16.length; i += 3) u16.set([0x8040, 0xffff, 0x0180], i);
    await sharp(u16, { raw: { width: 8, height: 8, channels: 3 } }).toColourspace('rgb16').png().toFile(p16);
    const m = await sharp(p16).metadata();
    assert.equal(m.depth, 'ushort');
    const di = await decodeRgb(p16, cfg);
    assert.equal(di.data.length, 8 * 8 * 3);
    // 16 -> 8 bits: v / 257 rounded or v >> 8; both give these values within one level
    assert.ok(near(pixel(di.data, 8, 1, 1), [0x80, 0xff, 0x01], 1), `16-bit ${pixel(di.data, 8, 1, 1)}`);

    const c = join(dir, 'cmyk.jpg');
    await rawRgb(rgbImage(32, 32, (x) => (x < 16 ? RED : BLUE)), 32, 32).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(c);
    assert.equal((await sharp(c).metadata()).space, 'cmyk');
    const ci = await decodeRgb(c, cfg);
    const [r1, g1, b1] = pixel(ci.data, 32, 4, 16);
    const [r2, g2, b2] = pixel(ci.data, 32, 28, 16);
    assert.ok(r1 > 180 && g1 < 60 && b1 < 60, `CMYK red came back as ${[r1, g1, b1]}`);
    assert.ok(b2 > 100 && r2 < 80 && b2 > g2, `CMYK blue came back as ${[r2, g2, b2]}`);
  });
});

test('alpha is composited over white (default) or black, or dropped', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 'alpha.png');
    const rgba = Buffer.alloc(4 * 2 * 4);
    for (let i = 0; i < 8; i++) rgba.set([255, 0, 0, i < 4 ? 0 : 128], i * 4); // row 0 transparent, row 1 half
    await sharp(rgba, { raw: { width: 4, height: 2, channels: 4 } }).png().toFile(p);
    const white = await decodeRgb(p, cfg);
    const black = await decodeRgb(p, { ...cfg, alpha: 'black' });
    const drop = await decodeRgb(p, { ...cfg, alpha: 'ignore' });
    assert.deepEqual(pixel(white.data, 4, 0, 0), [255, 255, 255]);
    assert.deepEqual(pixel(black.data, 4, 0, 0), [0, 0, 0]);
    assert.deepEqual(pixel(drop.data, 4, 0, 0), [255, 0, 0]);
    // 50% red over white: 255 * a + 255 * (1 - a) = 255 for R; G = B = 255 * (1 - 128 / 255) = 127
    assert.ok(near(pixel(white.data, 4, 1, 1), [255, 127, 127], 1), `half over white ${pixel(white.data, 4, 1, 1)}`);
    assert.ok(near(pixel(black.data, 4, 1, 1), [128, 0, 0], 1), `half over black ${pixel(black.data, 4, 1, 1)}`);
  });
});

test('an animated GIF decodes to its first frame only', async () => {
  await withTmp(async (dir) => {
    const p = join(dir, 'anim.gif');
    const frames = Buffer.alloc(8 * 16 * 4);
    for (let i = 0; i < 64; i++) frames.set([0, 255, 0, 255], i * 4); // frame 0 green
    for (let i = 64; i < 128; i++) frames.set([255, 0, 255, 255], i * 4); // frame 1 magenta
    await sharp(frames, { raw: { width: 8, height: 16, channels: 4, pageHeight: 8 } }).gif().toFile(p);
    assert.equal((await sharp(p).metadata()).pages, 2);
    const img = await decodeRgb(p, cfg);
    assert.equal(img.height, 8);
    assert.equal(img.width, 8);
    for (const [x, y] of [[0, 0], [7, 7], [3, 5]]) assert.ok(near(pixel(img.data, 8, x, y), [0, 255, 0], 8), `${pixel(img.data, 8, x, y)}`);
  });
});

test('missing, empty, corrupt, truncated and unsupported files fail with a reason naming the file', async () => {
  await withTmp(async (dir) => {
    const good = await rawRgb(corner(), 64, 32).jpeg().toBuffer();
    await writeFile(join(dir, 'empty.jpg'), Buffer.alloc(0));
    await writeFile(join(dir, 'junk.png'), Buffer.from('definitely not a picture'));
    await writeFile(join(dir, 'trunc.jpg'), good.subarray(0, Math.floor(good.length * 0.6)));
    // a valid 1 x 1 BMP: sharp has no BMP decoder in this build
    const bmp = Buffer.alloc(58);
    bmp.write('BM', 0);
    bmp.writeUInt32LE(58, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(1, 18);
    bmp.writeInt32LE(1, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    await writeFile(join(dir, 'pic.bmp'), bmp);
    const cases: [string, RegExp][] = [
      ['missing.jpg', /^file not found$/],
      ['empty.jpg', /^empty file$/],
      ['junk.png', /not a recognised image/],
      ['trunc.jpg', /^truncated JPEG( 64 x 32)? \(no end-of-image marker\)$/],
      ['pic.bmp', /unsupported format '\.bmp'/],
    ];
    for (const [name, reason] of cases) {
      const p = join(dir, name);
      await assert.rejects(decodeRgb(p, cfg), (e: unknown) => {
        assert.ok(e instanceof DecodeFailure, `${name}: ${String(e)}`);
        assert.ok(e instanceof InputError);
        assert.equal(e.path, p);
        assert.match(e.reason, reason, name);
        assert.ok(e.message.includes(p), `message names the file: ${e.message}`);
        return true;
      });
    }
  });
});

test('an image larger than the pixel limit fails as that image, before decoding, naming its size and the limit', async () => {
  const { configureDecoder, DEFAULT_MAX_PIXELS, maxDecodedPixels } = await import('../../src/data/decode.ts');
  assert.equal(maxDecodedPixels(), DEFAULT_MAX_PIXELS);
  await withTmp(async (dir) => {
    // A 6000 x 8000 PNG of one colour: a few kB on disk, 144 MB decoded; over the 40 MP default.
    const big = join(dir, 'bomb.png');
    await sharp({ create: { width: 6000, height: 8000, channels: 3, background: '#808080' } }).png({ compressionLevel: 9 }).toFile(big);
    const cfg = makePreprocessConfig();
    await assert.rejects(decodeRgb(big, cfg), (e) => e instanceof DecodeFailure && /image of 6000 x 8000 = 48000000 pixels, more than the limit of 40000000 pixels \(PROTOLENS_MAX_PIXELS\)/.test(e.reason));
    try {
      configureDecoder({ maxPixels: 50_000_000 });
      assert.equal((await decodeRgb(big, cfg)).width, 6000);
      process.env.PROTOLENS_MAX_PIXELS = '100';
      configureDecoder();
      assert.equal(maxDecodedPixels(), 100);
      const small = join(dir, 'small.png');
      await sharp({ create: { width: 20, height: 20, channels: 3, background: '#000' } }).png().toFile(small);
      await assert.rejects(decodeRgb(small, cfg), (e) => e instanceof DecodeFailure && /20 x 20 = 400 pixels, more than the limit of 100/.test(e.reason));
      process.env.PROTOLENS_MAX_PIXELS = 'lots';
      assert.throws(() => configureDecoder(), (e) => e instanceof InputError && /PROTOLENS_MAX_PIXELS: expected a positive integer/.test((e as Error).message));
    } finally {
      delete process.env.PROTOLENS_MAX_PIXELS;
      configureDecoder();
    }
  });
});

test('the reason of a failed decode is the same in every run, also with decodes running concurrently', async () => {
  await withTmp(async (dir) => {
    const good = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toBuffer();
    const path = join(dir, 'trunc.jpg');
    await writeFile(path, good.subarray(0, Math.floor(good.length * 0.6)));
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
    const pngPath = join(dir, 'trunc.png');
    await writeFile(pngPath, png.subarray(0, png.length - 30));
    const reasons = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const all = await Promise.all(Array.from({ length: 8 }, () => decodeRgb(path, cfg).then(() => 'decoded', (e: DecodeFailure) => e.reason)));
      for (const r of all) reasons.add(r);
    }
    assert.deepEqual([...reasons], ['truncated JPEG 300 x 200 (no end-of-image marker)']);
    await assert.rejects(decodeRgb(pngPath, cfg), (e) => e instanceof DecodeFailure && e.reason === 'truncated PNG 40 x 30 (no IEND chunk)');
  });
});
