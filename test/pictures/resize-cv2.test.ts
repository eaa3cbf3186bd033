import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { argmaxFirst, axisTaps, cubicWeights, CubicResizer, resizeCubicCv2 } from '../../src/pictures/resize-cv2.ts';
import { InputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';

/** Keys' cubic convolution kernel, a = -0.75, in its textbook piecewise form (not OpenCV's nesting). */
function keys(s: number): number {
  const x = Math.abs(s);
  const a = -0.75;
  if (x <= 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
  if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
  return 0;
}

/** Exact 1-D interpolation matrix (out x in) from the kernel, half-pixel centres, clamped taps. */
function matrix1d(n: number, N: number): number[][] {
  const m = Array.from({ length: N }, () => new Array<number>(n).fill(0));
  for (let d = 0; d < N; d++) {
    const src = ((d + 0.5) * n) / N - 0.5;
    const s = Math.floor(src);
    for (let j = -1; j <= 2; j++) m[d][Math.min(n - 1, Math.max(0, s + j))] += keys(src - (s + j));
  }
  return m;
}

/** R M R'^T for a row-major h x w map. */
function separable(R: number[][], M: number[], w: number, C: number[][]): number[] {
  const h = R[0].length;
  const out: number[] = [];
  for (const r of R) for (const c of C) {
    let v = 0;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) v += r[i] * M[i * w + j] * c[j];
    out.push(v);
  }
  return out;
}

test('2x2 -> 4x4 matches values worked out by hand (dyadic weights, exact in float32 and float64)', () => {
  // Output x = 0..3 samples src = -0.25, 0.25, 0.75, 1.25. Weights for t = 0.75: K(1.75) = -0.03515625,
  // K(0.75) = 0.26171875, K(0.25) = 0.87890625, K(1.25) = -0.10546875; for t = 0.25 the same reversed.
  // With taps clamped to the 2 samples, each output mixes the two inputs:
  const R = [
    [-0.03515625 + 0.26171875 + 0.87890625, -0.10546875], // taps 0,0,0,1
    [-0.10546875 + 0.87890625, 0.26171875 - 0.03515625], // taps 0,0,1,1
    [-0.03515625 + 0.26171875, 0.87890625 - 0.10546875], // taps 0,0,1,1
    [-0.10546875, 0.87890625 + 0.26171875 - 0.03515625], // taps 0,1,1,1
  ];
  assert.deepEqual(R.map((r) => r.map((v) => v * 256)), [[283, -27], [198, 58], [58, 198], [-27, 283]]);
  const M = [1, 2, 3, 4];
  const expected = separable(R, M, 2, R);
  // a few by hand: out[0][0] = 283/256 * (283 - 54)/256 - 27/256 * (849 - 108)/256
  assert.equal(expected[0], (283 * 229 - 27 * 741) / 65536);
  assert.equal(expected[0], 0.68359375);
  assert.equal(expected[15], 4.31640625);
  for (const arithmetic of ['opencv', 'float64'] as const) {
    assert.deepEqual(Array.from(resizeCubicCv2(M, 2, 2, 4, 4, { arithmetic })), expected, arithmetic);
  }
});

test('3x3 -> 7x7 matches the textbook kernel evaluated at the exact source positions', () => {
  // out index d samples src = (d + 0.5) * 3 / 7 - 0.5: -2/7, 1/7, 4/7, 1, 10/7, 13/7, 16/7
  const R = matrix1d(3, 7);
  // row 3 samples exactly the centre: weights (0, 1, 0)
  assert.ok(Math.abs(R[3][1] - 1) < 1e-15 && Math.abs(R[3][0]) < 1e-15);
  // row 1: t = 1/7 with taps -1, 0, 1, 2 -> 0, 0, 1, 2
  assert.ok(Math.abs(R[1][0] - (keys(8 / 7) + keys(1 / 7))) < 1e-15);
  assert.ok(Math.abs(R[1][2] - keys(13 / 7)) < 1e-15);
  const M = [0.5, -1.25, 2, 3.5, 0, -0.75, 1, 4, -2];
  const expected = separable(R, M, 3, R);
  const exact = new CubicResizer(3, 3, 7, 7, { arithmetic: 'float64' }).resize(M, new Float64Array(49));
  const cv = resizeCubicCv2(M, 3, 3, 7, 7);
  for (let i = 0; i < 49; i++) {
    assert.ok(Math.abs(exact[i] - expected[i]) < 1e-12, `float64 at ${i}: ${exact[i]} vs ${expected[i]}`);
    assert.ok(Math.abs(cv[i] - expected[i]) < 4e-6, `opencv at ${i}: ${cv[i]} vs ${expected[i]}`);
    assert.equal(cv[i], Math.fround(cv[i]));
  }
  // the centre output is the centre input in OpenCV's arithmetic: (float)(3.5 * (1 / (7/3)) - 0.5) == 1
  assert.equal(cv[3 * 7 + 3], 0);
  assert.equal(cv[3 * 7 + 0], Math.fround(cv[3 * 7 + 0]));
});

test('OpenCV weights: float32 evaluation of interpolateCubic, summing to 1 within float32 rounding', () => {
  assert.deepEqual(cubicWeights(0), [0, 1, 0, 0]);
  assert.deepEqual(cubicWeights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
  for (const t of [0.015625, 0.1, 1 / 3, 0.515625, 0.9]) {
    const w = cubicWeights(t);
    w.forEach((v) => assert.equal(v, Math.fround(v)));
    const e = [keys(1 + t), keys(t), keys(1 - t), keys(2 - t)];
    w.forEach((v, i) => assert.ok(Math.abs(v - e[i]) < 2e-7, `t=${t} tap ${i}: ${v} vs ${e[i]}`));
  }
  // positions: scale = 1 / (224 / 7) = 1/32, first output samples -0.484375
  const taps = axisTaps(7, 224);
  assert.equal(taps.base[0], -1);
  assert.equal(taps.base[223], 6);
  assert.deepEqual(Array.from(taps.weights.subarray(0, 4)), cubicWeights(1 - 0.484375));
});

interface Fixture {
  source: { opencv: string; baseline: string; ipp: boolean };
  cases: { h: number; w: number; H: number; W: number; maps: number[][]; outputs?: number[][]; sha256?: string[]; argmax?: number[]; max?: number[] }[];
}
const fixture: Fixture = JSON.parse(readFileSync(new URL('./fixtures/cv2-resize.json', import.meta.url), 'utf8'));

test(`bit-identical to real OpenCV ${fixture.source.opencv} cv2.resize INTER_CUBIC (fixture), ties included`, () => {
  assert.equal(fixture.source.ipp, false);
  let compared = 0;
  for (const c of fixture.cases) {
    const rs = new CubicResizer(c.h, c.w, c.H, c.W);
    c.maps.forEach((m, i) => {
      const out = rs.resize(Float32Array.from(m));
      const what = `${c.h}x${c.w} -> ${c.H}x${c.W} map ${i}`;
      if (c.outputs) {
        assert.deepEqual(Array.from(out), Array.from(Float32Array.from(c.outputs[i])), what);
      } else {
        const sha = createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex');
        assert.equal(sha, c.sha256![i], `${what}: float32 bytes differ from OpenCV's`);
        assert.equal(argmaxFirst(out), c.argmax![i], what);
        assert.equal(out[c.argmax![i]], Math.fround(c.max![i]), what);
      }
      compared++;
    });
  }
  assert.ok(compared >= 15);
  // the mirrored 2x2 map: exact ties in exact arithmetic are broken by float32 rounding, as in OpenCV
  const mirrored = fixture.cases[0].outputs![2];
  assert.notEqual(mirrored[4], mirrored[5]);
  assert.equal(mirrored[4], mirrored[6]);
});

test('properties: constants stay constant, ramps follow the known a = -0.75 deviation, flips commute', () => {
  const c = new Float32Array(49).fill(2.5);
  for (const arithmetic of ['opencv', 'float64'] as const) {
    const out = resizeCubicCv2(c, 7, 7, 224, 224, { arithmetic });
    for (const v of out) assert.ok(Math.abs(v - 2.5) <= (arithmetic === 'opencv' ? 2.5 * 4e-7 : 1e-12), `${arithmetic}: ${v}`);
  }
  // Keys' kernel reproduces linear functions only for a = -0.5. For general a, away from clamped taps,
  // sum_j j K(t - j) = t + e(t) with e(t) = -(2a + 1) t (1 - t) (1 - 2t); at a = -0.75, e(0.25) = 0.046875
  // (by hand: 0.10546875 + 0.26171875 - 2 * 0.03515625 = 0.296875). So a ramp comes out as the ramp at
  // the shifted position s + e(t) on each axis.
  const e = (t: number) => 0.5 * t * (1 - t) * (1 - 2 * t);
  assert.equal(e(0.25), 0.046875);
  const ramp = Float32Array.from({ length: 49 }, (_, i) => 2 * Math.floor(i / 7) - 3 * (i % 7) + 1);
  const exact = new CubicResizer(7, 7, 224, 224, { arithmetic: 'float64' }).resize(ramp, new Float64Array(224 * 224));
  const cv = resizeCubicCv2(ramp, 7, 7, 224, 224);
  let checked = 0;
  for (let y = 0; y < 224; y++) {
    const sy = (y + 0.5) / 32 - 0.5;
    if (Math.floor(sy) < 1 || Math.floor(sy) > 4) continue;
    for (let x = 0; x < 224; x++) {
      const sx = (x + 0.5) / 32 - 0.5;
      if (Math.floor(sx) < 1 || Math.floor(sx) > 4) continue;
      const v = 2 * (sy + e(sy - Math.floor(sy))) - 3 * (sx + e(sx - Math.floor(sx))) + 1;
      assert.ok(Math.abs(exact[y * 224 + x] - v) < 1e-9, `float64 (${y}, ${x})`);
      assert.ok(Math.abs(cv[y * 224 + x] - v) < 2e-5, `opencv (${y}, ${x}): ${cv[y * 224 + x]} vs ${v}`);
      checked++;
    }
  }
  assert.ok(checked > 100 * 100);
  // left-right flip: exact arithmetic commutes with it
  const m = Float32Array.from({ length: 35 }, (_, i) => Math.sin(i * 1.7) + (i % 3));
  const flip = (a: ArrayLike<number>, h: number, w: number) => Float64Array.from({ length: h * w }, (_, i) => a[Math.floor(i / w) * w + (w - 1 - (i % w))]);
  const a = new CubicResizer(5, 7, 40, 61, { arithmetic: 'float64' }).resize(flip(m, 5, 7), new Float64Array(40 * 61));
  const b = flip(new CubicResizer(5, 7, 40, 61, { arithmetic: 'float64' }).resize(m, new Float64Array(40 * 61)), 40, 61);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12);
});

test('firstMax equals the first maximum of the full resize, also on ties and near-ties', () => {
  const rng = new Rng(4);
  const cases: [number, number, number, number][] = [[7, 7, 224, 224], [7, 7, 230, 226], [14, 14, 224, 224], [5, 9, 37, 61], [10, 10, 7, 13]];
  for (const [h, w, H, W] of cases) {
    for (const arithmetic of ['opencv', 'float64'] as const) {
      const rs = new CubicResizer(h, w, H, W, { arithmetic });
      for (let t = 0; t < 60; t++) {
        const m = new Float32Array(h * w);
        const kind = t % 4;
        for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
          const v = kind === 0 ? Math.max(0, rng.normal()) : kind === 1 ? rng.normal() * 5 : Math.max(0, rng.normal()) * 0.2;
          m[r * w + c] = v;
          if (kind === 3) m[r * w + (w - 1 - c)] = v; // mirrored: exact ties broken by rounding
        }
        if (kind === 2) m[rng.int(h * w)] = m[rng.int(h * w)] = 2; // two equal cells
        if (t === 0) m.fill(0); // flat: every output ties
        const full = rs.resize(m, new Float64Array(H * W));
        const expected = argmaxFirst(full);
        const got = rs.firstMax(m);
        assert.equal(got.index, expected, `${h}x${w} -> ${H}x${W} ${arithmetic} case ${t}`);
        assert.equal(got.value, full[expected]);
      }
    }
  }
  for (const c of fixture.cases.filter((x) => x.argmax)) {
    const rs = new CubicResizer(c.h, c.w, c.H, c.W);
    c.maps.forEach((m, i) => assert.equal(rs.firstMax(Float32Array.from(m)).index, c.argmax![i], `fixture ${c.h}x${c.w} -> ${c.H}x${c.W} map ${i}`));
  }
  const rs = new CubicResizer(3, 3, 9, 9);
  assert.throws(() => rs.firstMax([0, 1, NaN, 0, 0, 0, 0, 0, 0]), (e: unknown) => e instanceof InputError && /NaN/.test(e.message));
  // an infinite input meets zero weights (inf * 0 = NaN), as in OpenCV: no maximum exists
  assert.throws(() => rs.firstMax([0, 1, Infinity, 0, 0, 0, 0, 0, 0]), /NaN/);
});

test('same size is a copy, downscaling works, bad input is an InputError', () => {
  const m = Float32Array.from({ length: 12 }, (_, i) => i * 0.1);
  assert.deepEqual(resizeCubicCv2(m, 3, 4, 3, 4), m);
  assert.equal(resizeCubicCv2(m, 3, 4, 2, 2).length, 4);
  assert.throws(() => resizeCubicCv2(m, 3, 3, 7, 7), (e: unknown) => e instanceof InputError && /12 values, 3 x 3/.test(e.message));
  assert.throws(() => resizeCubicCv2(m, 3, 4, 0, 7), InputError);
  assert.throws(() => new CubicResizer(3, 4, 7, 7, { arithmetic: 'fast' as never }), /arithmetic/);
});

test('argmaxFirst: the first maximum in row-major order wins; NaN is an InputError', () => {
  assert.equal(argmaxFirst([1, 3, 2, 3]), 1);
  assert.equal(argmaxFirst([0, 0, 0]), 0);
  assert.equal(argmaxFirst([-Infinity, -5, -5]), 1);
  assert.throws(() => argmaxFirst([1, NaN, 2], 'prototype 3'), (e: unknown) => e instanceof InputError && /prototype 3: value 1 is NaN/.test(e.message));
  assert.throws(() => argmaxFirst([]), InputError);
});

test('the WebAssembly engine of resize equals the JavaScript emulation bit for bit (sizes with and without a SIMD tail, down and up)', () => {
  const rng = new Rng(5);
  const sizes: [number, number, number, number][] = [[7, 7, 224, 224], [7, 7, 112, 84], [14, 14, 227, 225], [3, 5, 13, 6], [1, 1, 5, 3], [7, 7, 1, 2], [28, 28, 7, 7], [6, 9, 6, 10]];
  let values = 0;
  for (const [h, w, H, W] of sizes) {
    const rs = new CubicResizer(h, w, H, W);
    for (let m = 0; m < 5; m++) {
      // random, a few exact ties, large and tiny magnitudes
      const map = Float32Array.from({ length: h * w }, (_, i) => (m === 1 ? (i % 3) - 1 : m === 2 ? rng.normal() * 1e30 : m === 3 ? rng.normal() * 1e-30 : rng.normal()));
      const engine = rs.resize(map);
      const js = rs.resizeJs(map);
      assert.deepEqual(new Uint32Array(engine.buffer), new Uint32Array(js.buffer), `${h}x${w} -> ${H}x${W}, map ${m}`);
      values += engine.length;
    }
  }
  assert.ok(values > 250_000);
});
