// Exemplar selection and scoring on hand-made numbers, and the usable-class check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUsableClass } from '../../src/builder/usable.ts';
import { ExemplarScorer, selectExemplars } from '../../src/builder/exemplars.ts';
import { Rng } from '../../src/util/random.ts';

test('selection: best first, one entry per image, ties in image order, m larger than n', () => {
  // 4 images x 2 prototypes, scores[j * 2 + i]
  const scores = Float32Array.from([
    1, 5, //
    3, 5, //
    3, -1, //
    2, 0,
  ]);
  const s = selectExemplars(scores, 4, 2, 3);
  assert.deepEqual(s[0], [
    { image: 1, score: 3 },
    { image: 2, score: 3 },
    { image: 3, score: 2 },
  ]);
  assert.deepEqual(s[1].map((e) => e.image), [0, 1, 3]);
  const all = selectExemplars(scores, 4, 2, 10);
  assert.deepEqual(all[1].map((e) => e.image), [0, 1, 3, 2]);
  assert.throws(() => selectExemplars(scores, 3, 2, 1), /expected n x k = 3 x 2/);
});

test('scorer: maps are x . p per position and scores their maxima (checked in float64)', async () => {
  const rng = new Rng(7);
  const [n, hw, d, k] = [3, 5, 4, 2];
  const F = Float32Array.from({ length: n * hw * d }, () => rng.normal());
  const P = Float32Array.from({ length: k * d }, () => rng.normal());
  const scorer = await ExemplarScorer.create();
  try {
    const { maps, scores } = await scorer.score(F, n, hw, d, P, k);
    assert.equal(maps.length, n * hw * k);
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < k; i++) {
        let best = -Infinity;
        for (let p = 0; p < hw; p++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += F[(j * hw + p) * d + c] * P[i * d + c];
          assert.ok(Math.abs(maps[(j * hw + p) * k + i] - s) < 1e-5, `map ${j} ${p} ${i}`);
          best = Math.max(best, s);
        }
        assert.ok(Math.abs(scores[j * k + i] - best) < 1e-5, `score ${j} ${i}`);
      }
    }
    await assert.rejects(scorer.score(F, n, hw, d, P.subarray(1), k), /prototypes have 7 values, expected 2 x 4/);
  } finally {
    await scorer.close();
  }
});

test('usable class: at least k images and k non-zero positions, else an error naming the class', () => {
  const [hw, d, k] = [4, 3, 3];
  const F = new Float32Array(3 * hw * d);
  assert.throws(() => checkUsableClass(F, 0, hw, d, k, "class 5 ('owl')", 2), /class 5 \('owl'\): no usable training images \(2 of its images could not be decoded\)/);
  assert.throws(() => checkUsableClass(F, 2, hw, d, k, "class 5 ('owl')"), /class 5 \('owl'\): 2 usable training images, fewer than k = 3/);
  assert.throws(() => checkUsableClass(F, 3, hw, d, k, "class 5 ('owl')"), /class 5 \('owl'\): only 0 of its 12 feature positions .* have a non-zero feature vector, fewer than k = 3/);
  F[1 * d + 2] = 1;
  F[7 * d] = 0.5;
  assert.throws(() => checkUsableClass(F, 3, hw, d, k, 'class 1'), /only 2 of its 12/);
  F[11 * d + 1] = 2;
  checkUsableClass(F, 3, hw, d, k, 'class 1');
});

test('exemplar pictures in each format: WebP (effort applied), JPEG and PNG show the same patches', async () => {
  const { renderClassExemplars } = await import('../../src/builder/exemplars.ts');
  const { makePreprocessConfig } = await import('../../src/data/preprocess-config.ts');
  const { encodeJpeg } = await import('../../src/data/load.ts');
  const sharp = (await import('sharp')).default;
  const rng = new Rng(11);
  const [n, H, W, D, k, size] = [4, 4, 4, 8, 2, 64];
  const items = Array.from({ length: n }, (_, j) => ({ id: `i${j}`, path: `/data/c/i${j}.jpg`, index: j, label: 0 }));
  const pictures = await Promise.all(items.map((_, j) => {
    const rgb = new Uint8Array(size * size * 3);
    // smooth, and distinct per image (the gradient turns with j)
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) rgb.set(j % 2 ? [y * 4, x * 4, 255 - x * 2 - j * 30] : [x * 4, 255 - y * 4, y * 2 + j * 30], (y * size + x) * 3);
    return encodeJpeg({ data: rgb, width: size, height: size }, 95);
  }));
  const features = Float32Array.from({ length: n * H * W * D }, () => Math.max(0, rng.normal()));
  const prototypes = Float32Array.from({ length: k * D }, () => rng.normal());
  const scorer = await ExemplarScorer.create();
  const render = (format: 'webp' | 'jpeg' | 'png', effort?: number) =>
    renderClassExemplars(scorer, { classIndex: 0, className: 'c', features, items, pictures, prototypes, k, H, W, D }, { datasetRoot: '/data', preprocess: makePreprocessConfig({ size }), perPrototype: 2, format, quality: 80, ...(effort !== undefined ? { effort } : {}) });
  try {
    const [png, jpeg, webp0, webp6] = [await render('png'), await render('jpeg'), await render('webp', 0), await render('webp', 6)];
    const strip = (e: typeof png.exemplars) => JSON.stringify(e).replace(/\.(png|jpg|webp)/g, '');
    assert.equal(strip(jpeg.exemplars), strip(png.exemplars), 'same choices and boxes in every format');
    assert.equal(strip(webp0.exemplars), strip(png.exemplars));
    assert.ok(jpeg.files.every((f) => f.path.endsWith('.jpg')) && webp0.files.every((f) => f.path.endsWith('.webp')));
    assert.ok(webp0.files.some((f, i) => !Buffer.from(f.bytes).equals(Buffer.from(webp6.files[i].bytes))), 'the effort reaches the encoder');
    const raw = async (b: Uint8Array) => (await sharp(b).raw().toBuffer({ resolveWithObject: true })) as { data: Buffer; info: { width: number; height: number } };
    const refs = await Promise.all(png.files.map((f) => raw(f.bytes)));
    const distance = (a: { data: Buffer; info: { width: number; height: number } }, b: typeof a) => {
      if (a.info.width !== b.info.width || a.info.height !== b.info.height) return Infinity;
      let d = 0;
      for (let x = 0; x < a.data.length; x++) d += Math.abs(a.data[x] - b.data[x]);
      return d / a.data.length;
    };
    // Each lossy picture is closest to the lossless picture of the same exemplar, and close to it.
    for (const [name, files] of [['jpeg', jpeg.files], ['webp', webp6.files]] as const) {
      for (const [i, f] of files.entries()) {
        const got = await raw(f.bytes);
        const d = refs.map((r) => distance(r, got));
        assert.ok(d[i] < 8, `${name} ${f.path}: mean difference ${d[i]} from the lossless picture`);
        assert.ok(d.every((v, j) => j === i || v > d[i]), `${name} ${f.path}: closest to its own lossless picture (${d.map((v) => v.toFixed(1)).join(', ')})`);
      }
    }
    assert.ok((await Promise.all(jpeg.files.map(async (f) => (await sharp(f.bytes).metadata()).format))).every((x) => x === 'jpeg'));
  } finally {
    await scorer.close();
  }
});

test('exemplar format, quality and effort from the CLI: defaults, JPEG, bounds named', async () => {
  const { buildCommand, buildOptionsFromArgs } = await import('../../src/cli/build.ts');
  const { parseCommand } = await import('../../src/cli/args.ts');
  const { resolveBuildOptions } = await import('../../src/builder/options.ts');
  const { DEFAULT_EXEMPLAR_EFFORT } = await import('../../src/builder/exemplars.ts');
  const args = (extra: string[]) => buildOptionsFromArgs(parseCommand(buildCommand.spec, ['--model', 'm.onnx', '--data', 'd', '--out', 'o', ...extra]).values);
  const def = resolveBuildOptions(args([]));
  assert.deepEqual([def.exemplarFormat, def.exemplarQuality, def.exemplarEffort], ['webp', 80, DEFAULT_EXEMPLAR_EFFORT]);
  const jpeg = resolveBuildOptions(args(['--exemplar-format', 'jpeg', '--exemplar-quality', '90', '--exemplar-effort', '0']));
  assert.deepEqual([jpeg.exemplarFormat, jpeg.exemplarQuality, jpeg.exemplarEffort], ['jpeg', 90, 0]);
  assert.throws(() => args(['--exemplar-effort', '7']), /--exemplar-effort: expected an integer from 0 to 6, got '7'/);
  assert.throws(() => args(['--exemplar-effort', '-1']), /--exemplar-effort/);
  assert.throws(() => args(['--exemplar-format', 'gif']), /--exemplar-format/);
  assert.throws(() => resolveBuildOptions({ ...args([]), exemplarEffort: 2.5 }), /exemplarEffort/);
});
