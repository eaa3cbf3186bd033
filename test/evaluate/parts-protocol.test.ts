import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { PreprocessConfig } from '../../src/data/preprocess-config.ts';
import type { PartLocation } from '../../src/data/types.ts';
import {
  defaultHalfSize,
  inRegion,
  mapPointReference,
  PartsAccumulator,
  partHits,
  PartsScorer,
  protocolCrop,
  protocolParts,
  protocolPreprocess,
  regionAround,
  visibleMask,
} from '../../src/evaluate/protocols/parts.ts';
import { InputError } from '../../src/util/errors.ts';

const S: [number, number] = [224, 224];
const part = (partId: number, x: number, y: number, visible = true): PartLocation => ({ partId, x, y, visible });

/** A map at input resolution (so the resize is the identity copy) with given peaks. */
function peaks(...at: [number, number, number][]): Float32Array {
  const m = new Float32Array(224 * 224);
  for (const [r, c, v] of at) m[r * 224 + c] = v;
  return m;
}

test('half size: 36 at 224, scaled and rounded for other inputs', () => {
  assert.equal(defaultHalfSize([224, 224]), 36);
  assert.equal(defaultHalfSize([448, 448]), 72);
  assert.equal(defaultHalfSize([32, 32]), 5); // 36 * 32 / 224 = 5.14
  assert.equal(defaultHalfSize([28, 40]), 5); // 4.5 rounds up
});

test('region: clamped at the image border, both bounds inclusive, bound H/W itself counts', () => {
  const r = regionAround(5, 220, 36, S);
  assert.deepEqual(r, { y1: 0, y2: 41, x1: 184, x2: 224 });
  assert.ok(inRegion(0, 184, r));
  assert.ok(inRegion(41, 224, r)); // a part mapped to x = 224 (outside the image) still counts, as in the reference
  assert.ok(!inRegion(42, 200, r));
  assert.ok(!inRegion(10, 183, r));
  assert.ok(!inRegion(-1, 200, r));
  const mid = regionAround(100, 100, 36, S);
  assert.deepEqual(mid, { y1: 64, y2: 136, x1: 64, x2: 136 });
  // only visible parts are hits; ids are 1-based
  const hits = partHits(mid, [part(1, 64, 64), part(2, 136, 136), part(3, 137, 100), part(4, 100, 100, false)], 15);
  assert.deepEqual(Array.from(hits.subarray(0, 5)), [1, 1, 0, 0, 0]);
  assert.throws(() => partHits(mid, [part(16, 1, 1)], 15, 'image 42'), (e: unknown) => e instanceof InputError && /image 42: part id 16 outside 1..15/.test(e.message));
});

test('scorer: first maximum in row-major order wins a tie; maps at input size are used as is', () => {
  const scorer = new PartsScorer({ inputSize: S });
  // two equal peaks: (150, 10) comes later in row-major order than (20, 200)
  const r = scorer.region(peaks([150, 10, 5], [20, 200, 5]), S);
  assert.deepEqual([r.row, r.col, r.value], [20, 200, 5]);
  assert.deepEqual(r.region, { y1: 0, y2: 56, x1: 164, x2: 224 });
  // all-zero map: the first position
  const z = scorer.region(new Float32Array(224 * 224), S);
  assert.deepEqual([z.row, z.col], [0, 0]);
  assert.deepEqual(z.region, { y1: 0, y2: 36, x1: 0, x2: 36 });
  assert.throws(() => scorer.region(new Float32Array(10), [7, 7], 'image 3, prototype 1'), /image 3, prototype 1: 10 values, 7 x 7 = 49 expected/);
});

test('scorer at feature resolution: the 7x7 one-hot tie resolves where OpenCV puts it', () => {
  // From the OpenCV fixture: a 7x7 map with a single 1 at the centre upsamples (224 x 224) to four
  // symmetric candidates (111|112, 111|112); OpenCV's first maximum is (111, 111).
  const fx = JSON.parse(readFileSync(new URL('../pictures/fixtures/cv2-resize.json', import.meta.url), 'utf8'));
  const c = fx.cases.find((x: { h: number; H: number; W: number }) => x.h === 7 && x.H === 224 && x.W === 224);
  const i = c.maps.findIndex((m: number[]) => m.filter((v) => v !== 0).length === 1 && m[24] === 1);
  const cvRow = Math.floor(c.argmax[i] / 224);
  const cvCol = c.argmax[i] % 224;
  assert.deepEqual([cvRow, cvCol], [111, 111]);
  const scorer = new PartsScorer({ inputSize: S });
  const r = scorer.region(Float32Array.from(c.maps[i]), [7, 7]);
  assert.deepEqual([r.row, r.col], [cvRow, cvCol]);
  // parts on the region's edges: rows 75..147, cols 75..147
  const hits = scorer.imageHits(Float32Array.from(c.maps[i]), 1, [7, 7], [part(1, 75, 75), part(2, 147, 147), part(3, 148, 111), part(4, 111, 74)]);
  assert.deepEqual(Array.from(hits.subarray(0, 4)), [1, 1, 0, 0]);
});

test('consistency and stability computed by hand on a planted class (visible/invisible denominators)', () => {
  // 2 classes x 2 prototypes; class 1 has no images. Class 0 has 3 images.
  // prototype 0 always points at (50, 50); prototype 1 at (150, 150) in images a, b and at (10, 200) in c.
  const P = 15;
  const scorer = new PartsScorer({ inputSize: S });
  const imgs = [
    // a: head (1) at the prototype-0 peak, back (2) near prototype 1, beak (3) invisible there
    { maps: [peaks([50, 50, 1]), peaks([150, 150, 1])], parts: [part(1, 52, 48), part(2, 160, 170), part(3, 150, 150, false)] },
    // b: head again, back outside prototype 1's region (x 187 > 186), part 5 (only visible here) at prototype 1
    { maps: [peaks([50, 50, 1]), peaks([150, 150, 1])], parts: [part(1, 86, 86), part(2, 187, 150), part(5, 114, 114)] },
    // c: head again; prototype 1 moved to the corner region rows 0..46, cols 164..224, hitting the back
    { maps: [peaks([50, 50, 1]), peaks([10, 200, 1])], parts: [part(1, 14, 14), part(2, 224, 46)] },
  ];
  const acc = new PartsAccumulator(2, 2, P);
  const noisyRegionsOf = [
    [peaks([50, 50, 1]), peaks([150, 150, 1])], // a: unchanged
    [peaks([50, 50, 1]), peaks([150, 151, 1])], // b: prototype 1 moves right by 1: back x 187 now inside
    [peaks([48, 50, 1]), peaks([10, 200, 1])], // c: prototype 0 moves; head still inside, vector unchanged
  ];
  imgs.forEach((im, i) => {
    const maps = new Float32Array(2 * 224 * 224);
    im.maps.forEach((m, j) => maps.set(m, j * 224 * 224));
    const noisy = new Float32Array(2 * 224 * 224);
    noisyRegionsOf[i].forEach((m, j) => noisy.set(m, j * 224 * 224));
    acc.add({ label: 0, visible: visibleMask(im.parts, P), hits: scorer.imageHits(maps, 2, S, im.parts), noisyHits: scorer.imageHits(noisy, 2, S, im.parts) });
  });
  const cons = acc.consistency();
  const p0 = cons.perPrototype[0];
  const p1 = cons.perPrototype[1];
  // part 1 visible in 3 images, hit by prototype 0 in all 3
  assert.equal(p0.rates[0], 1);
  assert.ok(p0.consistent);
  assert.equal(p0.bestPart, 1);
  // prototype 1: part 2 hit in a and c of 3 visible -> 2/3; part 5 visible once, hit once -> 1 (consistent);
  // part 3 never visible -> denominator 1, rate 0
  assert.equal(p1.rates[1], 2 / 3);
  assert.equal(p1.rates[4], 1);
  assert.equal(p1.rates[2], 0);
  assert.equal(p1.bestPart, 5);
  assert.ok(p1.consistent);
  // class 1 (no images): rates 0, inconsistent, as the reference
  assert.ok(!cons.perPrototype[2].consistent && !cons.perPrototype[3].consistent);
  assert.equal(cons.score, 50);
  assert.deepEqual(cons.perClass.map((c) => c.score), [100, 0]);
  assert.equal(acc.consistency(1.01).score, 0);
  // stability: prototype 0 unchanged on all 3; prototype 1 changed on b only, where it lost part 5
  // (x 114 falls out of cols 115..187) and gained the back (x 187 falls in). ProtoPNeXt's rule (same
  // vector) counts that as unstable; EvalProtoPNet's signed sum (hits_clean - hits_noisy).sum() == 0
  // counts it as stable: its quirk, kept as the default because published numbers come from it.
  const strict = acc.stability('same-vector');
  assert.deepEqual(strict.perPrototype.map((p) => p.stability), [1, 2 / 3, null, null]);
  assert.deepEqual(strict.classesWithoutImages, [1]);
  assert.ok(Math.abs(strict.score - (100 * (1 + 2 / 3)) / 2) < 1e-12);
  assert.equal(strict.prototypes, 2);
  const st = acc.stability();
  assert.equal(st.rule, 'signed-sum');
  assert.deepEqual(st.perPrototype.map((p) => p.stability), [1, 1, null, null]);
  assert.equal(st.score, 100);
  assert.deepEqual(st.byRule, { 'signed-sum': 100, 'same-vector': strict.score });
});

test('stability counts two empty part vectors as the same, and needs the perturbed hits of every image', () => {
  const acc = new PartsAccumulator(1, 1, 3);
  const z = new Uint8Array(3);
  acc.add({ label: 0, visible: Uint8Array.from([1, 0, 0]), hits: z, noisyHits: z });
  assert.equal(acc.stability().score, 100);
  assert.throws(() => acc.add({ label: 0, visible: z, hits: z }), /every image or for none/);
  assert.throws(() => acc.add({ label: 1, visible: z, hits: z, noisyHits: z }), /label 1 outside 0..0/);
  assert.throws(() => acc.add({ label: 0, visible: z, hits: Uint8Array.from([1, 0, 0]), noisyHits: z }), /hits part 1, which is not visible/);
  const clean = new PartsAccumulator(1, 1, 3);
  clean.add({ label: 0, visible: z, hits: z });
  assert.throws(() => clean.stability(), /needs the perturbed hits/);
});

test('part mapping: the reference order of operations, truncation toward zero, both variants', () => {
  const crop = { x1: 10, y1: 20, x2: 234, y2: 244 }; // a 224 x 224 box
  // int(224 * (61 / 224)) = int(60.99999999999999) = 60, not 61
  assert.deepEqual(mapPointReference(crop, S, 71, 81), { x: 60, y: 60 });
  assert.deepEqual(mapPointReference(crop, S, 10, 20), { x: 0, y: 0 });
  // left of / above the crop: int(224 * (-5 / 224)) = -5, int(224 * (-1 / 224)) = -1; truncation toward zero: int(-0.75) = 0
  assert.deepEqual(mapPointReference(crop, S, 5, 19), { x: -5, y: -1 });
  assert.deepEqual(mapPointReference({ x1: 0, y1: 0, x2: 300, y2: 300 }, S, -1, 301), { x: 0, y: 224 });
  const mapped = protocolParts([part(1, 71, 81), part(2, 300, 30, false)], crop, S);
  assert.deepEqual(mapped, [
    { partId: 1, visible: true, x: 60, y: 60 },
    { partId: 2, visible: false, x: 290, y: 10 },
  ]);
  // crops: strict truncates the box like the reference; uncropped uses the whole image
  const item = { id: '7', path: '/x/7.jpg', bbox: { x: 10.9, y: 20.2, w: 100.7, h: 50.1 } };
  assert.deepEqual(protocolCrop(item, 'strict', { width: 500, height: 400 }), { x1: 10, y1: 20, x2: 110, y2: 70 });
  assert.deepEqual(protocolCrop(item, 'uncropped', { width: 500, height: 400 }), { x1: 0, y1: 0, x2: 500, y2: 400 });
  assert.throws(() => protocolCrop({ id: '8', path: '/x/8.jpg' }, 'strict', { width: 5, height: 5 }), (e: unknown) => e instanceof InputError && /image 8 .*no bounding box/.test(e.message));
  const base = { size: [224, 224], resize: 'shorter', resizeShorter: 256, cropToBox: false } as unknown as PreprocessConfig;
  assert.deepEqual(protocolPreprocess(base, 'strict'), { size: [224, 224], resize: 'stretch', cropToBox: true });
  assert.deepEqual(protocolPreprocess(base, 'uncropped'), { size: [224, 224], resize: 'stretch', cropToBox: false });
});

test('options are validated with the option named', () => {
  assert.throws(() => new PartsScorer({ inputSize: [0, 224] }), /inputSize/);
  assert.throws(() => new PartsScorer({ inputSize: S, halfSize: -1 }), /halfSize/);
  assert.throws(() => new PartsAccumulator(0, 10), /numClasses/);
  assert.throws(() => visibleMask([part(0, 1, 1)], 15), /part id 0 outside 1..15/);
});
