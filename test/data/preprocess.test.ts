import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseCommand, type CommandSpec } from '../../src/cli/args.ts';
import { preprocessCliOptions, preprocessFromArgs } from '../../src/cli/preprocess-options.ts';
import { computeGeometry, mapPoint, roundHalfEven, shorterSideSize } from '../../src/data/geometry.ts';
import { decodeForDisplay, loadImage } from '../../src/data/load.ts';
import { normalizationTable } from '../../src/data/preprocess.ts';
import {
  makePreprocessConfig,
  parseNormalize,
  parseSize,
  samePreprocess,
  validatePreprocessConfig,
} from '../../src/data/preprocess-config.ts';
import { InputError, UsageError } from '../../src/util/errors.ts';
import { pixel, rawRgb, rgbImage, withTmp } from './helpers.ts';

test('normalisation presets and explicit mean/std parse; bad strings are usage errors naming --normalize', () => {
  assert.deepEqual(parseNormalize('imagenet'), { normalize: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  assert.deepEqual(parseNormalize('none'), { normalize: 'none', mean: [0, 0, 0], std: [1, 1, 1] });
  assert.deepEqual(parseNormalize('half'), { normalize: 'half', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  assert.deepEqual(parseNormalize('0.5,0.5,0.5/0.25,0.25,0.25'), { normalize: 'custom', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  assert.deepEqual(parseNormalize('0.1/2'), { normalize: 'custom', mean: [0.1, 0.1, 0.1], std: [2, 2, 2] });
  for (const bad of ['imagnet', '0.5,0.5/0.2,0.2', '1,2,3/0,1,1', '1,2,3/', 'a,b,c/1,1,1', '1,2,3/1,1,1/1']) {
    assert.throws(() => parseNormalize(bad), (e: unknown) => e instanceof UsageError && /--normalize/.test(e.message), bad);
  }
});

test('input sizes parse as S or HxW', () => {
  assert.deepEqual(parseSize('224'), [224, 224]);
  assert.deepEqual(parseSize('224x160'), [224, 160]);
  for (const bad of ['0', '224x', 'x3', '-4', '2.5', '99999']) assert.throws(() => parseSize(bad), UsageError, bad);
});

test('CLI values build a config; defaults are filled; the config round-trips through JSON', () => {
  const spec: CommandSpec = { name: 'x', summary: '', usage: 'x', options: preprocessCliOptions };
  const { values } = parseCommand(spec, ['--input-size', '256', '--resize', 'shorter', '--normalize', '0.5,0.4,0.3/0.2,0.2,0.2', '--crop-to-box', '--layout', 'nhwc']);
  const cfg = preprocessFromArgs(values);
  assert.deepEqual(cfg, {
    size: [256, 256], resize: 'shorter', resizeShorter: 293, cropToBox: true, interpolation: 'bilinear', normalize: 'custom',
    mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2], layout: 'NHWC', alpha: 'white', exifOrientation: true, failOn: 'error',
  });
  assert.equal(cfg.resizeShorter, Math.round((256 * 256) / 224));
  const back = validatePreprocessConfig(JSON.parse(JSON.stringify(cfg)), 'manifest.json');
  assert.deepEqual(back, cfg);
  assert.ok(samePreprocess(back, cfg));
  const model = preprocessFromArgs(parseCommand(spec, []).values, { size: [299, 299] });
  assert.deepEqual(model.size, [299, 299]);
  assert.equal(model.resize, 'stretch');
  assert.equal(model.normalize, 'imagenet');
  assert.throws(() => preprocessFromArgs(parseCommand(spec, ['--resize', 'shorter', '--resize-shorter', '100']).values), /--resize-shorter/);
  assert.throws(() => preprocessFromArgs(parseCommand(spec, ['--interpolation', 'cubic']).values), /--interpolation: expected one of bilinear, bicubic, nearest/);
});

test('a recorded config with a missing, unknown or bad field is an InputError naming the source and field', () => {
  const good = JSON.parse(JSON.stringify(makePreprocessConfig()));
  const { layout: _l, ...noLayout } = good;
  const cases: [unknown, RegExp][] = [
    [noLayout, /missing 'layout'/],
    [{ ...good, extra: 1 }, /unknown field 'extra'/],
    [{ ...good, std: [1, 0, 1] }, /std: expected 3 finite numbers > 0/],
    [{ ...good, size: [224] }, /size: expected \[height, width\]/],
    [{ ...good, resize: 'shorter' }, /missing 'resizeShorter'/],
    [{ ...good, cropToBox: 'yes' }, /cropToBox/],
    ['nope', /must be an object/],
  ];
  for (const [v, re] of cases) {
    assert.throws(() => validatePreprocessConfig(v, 'net/manifest.json'), (e: unknown) => e instanceof InputError && /^net\/manifest\.json: /.test(e.message) && re.test(e.message), String(re));
  }
});

test('normalised values equal (x / 255 - mean) / std computed by hand', () => {
  const cfg = makePreprocessConfig({ normalize: 'imagenet' });
  const lut = normalizationTable(cfg);
  // x = 128, red: (128 / 255 - 0.485) / 0.229 = (0.5019608 - 0.485) / 0.229 = 0.0740646...
  assert.ok(Math.abs(lut[128] - 0.0740646) < 1e-6, String(lut[128]));
  // x = 0, blue: -0.406 / 0.225 = -1.80444...
  assert.ok(Math.abs(lut[2 * 256 + 0] - -1.8044444) < 1e-6, String(lut[512]));
  // x = 255, green: (1 - 0.456) / 0.224 = 2.4285714...
  assert.ok(Math.abs(lut[256 + 255] - 2.4285714) < 1e-6, String(lut[511]));
  const none = normalizationTable(makePreprocessConfig({ normalize: 'none' }));
  for (const v of [0, 1, 77, 255]) assert.equal(none[v], Math.fround(v / 255));
  const half = normalizationTable(makePreprocessConfig({ normalize: 'half' }));
  assert.equal(half[0], -1);
  assert.equal(half[255], 1);
});

test('loadImage writes NCHW and NHWC tensors with hand-checkable values; an image at the input size is not resized', async () => {
  await withTmp(async (dir) => {
    const W = 6, H = 4;
    const f = (x: number, y: number): [number, number, number] => [x * 40, y * 60, 255 - x * 10 - y];
    const p = join(dir, 'grid.png');
    await rawRgb(rgbImage(W, H, f), W, H).png().toFile(p);
    const item = { id: 'g', path: p };
    const nchw = await loadImage(item, makePreprocessConfig({ size: [H, W], normalize: 'half' }), { keepRgb: true });
    const nhwc = await loadImage(item, makePreprocessConfig({ size: [H, W], normalize: 'half', layout: 'NHWC' }));
    assert.equal(nchw.tensor.length, 3 * H * W);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++) {
          const want = (f(x, y)[c] / 255 - 0.5) / 0.5;
          assert.ok(Math.abs(nchw.tensor[c * H * W + y * W + x] - want) < 1e-6, `NCHW ${x},${y},${c}`);
          assert.ok(Math.abs(nhwc.tensor[(y * W + x) * 3 + c] - want) < 1e-6, `NHWC ${x},${y},${c}`);
        }
    assert.deepEqual(nchw.geometry.resized, { width: W, height: H });
    assert.deepEqual(pixel(nchw.rgb!.data, W, 5, 3), f(5, 3));
    // the same holds under 'shorter': a region already of the input size passes through
    const sh = await loadImage(item, makePreprocessConfig({ size: [H, W], resize: 'shorter' }), { keepRgb: true });
    assert.deepEqual(Array.from(sh.rgb!.data), Array.from(nchw.rgb!.data));
  });
});

test("'shorter' resizes like torchvision Resize(R) + CenterCrop(S): sizes and offsets by hand", () => {
  assert.deepEqual(shorterSideSize(300, 200, 256), { width: 384, height: 256 });
  assert.deepEqual(shorterSideSize(333, 500, 256), { width: 256, height: 384 }); // int(256 * 500 / 333) = 384
  assert.deepEqual(shorterSideSize(500, 333, 256), { width: 384, height: 256 });
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(80), 80);
  const cfg = makePreprocessConfig({ size: 224, resize: 'shorter' });
  assert.equal(cfg.resizeShorter, 256);
  const g = computeGeometry(300, 200, { x1: 0, y1: 0, x2: 300, y2: 200 }, cfg);
  assert.deepEqual(g.resized, { width: 384, height: 256 });
  assert.deepEqual(g.offset, { left: 80, top: 16 }); // (384 - 224) / 2, (256 - 224) / 2
  // 257 wide after resize: (257 - 224) / 2 = 16.5 -> Python round -> 16
  const g2 = computeGeometry(257, 400, { x1: 0, y1: 0, x2: 257, y2: 400 }, makePreprocessConfig({ size: 224, resize: 'shorter', resizeShorter: 257 }));
  assert.deepEqual(g2.resized, { width: 257, height: 400 });
  assert.deepEqual(g2.offset, { left: 16, top: 88 });
  // a source point maps through the resize then the crop: x = int(384 * 150 / 300) - 80 = 112
  assert.deepEqual(mapPoint(g, 150, 100), { x: 112, y: 112 });
});

test("'shorter' output pixels come from the centre of the resized image", async () => {
  await withTmp(async (dir) => {
    // 300 x 200, columns coloured by x: after resize to 384 x 256 and crop at left 80, output column X
    // shows resized column X + 80, i.e. source x about (X + 80 + 0.5) * 300 / 384 - 0.5
    const p = join(dir, 'ramp.png');
    await rawRgb(rgbImage(300, 200, (x, y) => [Math.min(255, x), Math.min(255, y), 0]), 300, 200).png().toFile(p);
    const d = await decodeForDisplay(p, makePreprocessConfig({ size: 224, resize: 'shorter' }));
    assert.equal(d.input.width, 224);
    assert.equal(d.original.width, 300);
    for (const X of [0, 50, 100]) {
      const want = (X + 80 + 0.5) * (300 / 384) - 0.5;
      const got = pixel(d.input.data, 224, X, 100)[0];
      assert.ok(Math.abs(got - want) <= 1, `column ${X}: ${got} vs ${want}`);
    }
    const wantY = (100 + 16 + 0.5) * (200 / 256) - 0.5;
    assert.ok(Math.abs(pixel(d.input.data, 224, 10, 100)[1] - wantY) <= 1);
  });
});
