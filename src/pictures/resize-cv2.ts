/**
 * OpenCV-compatible bicubic resizing (cv2.resize with INTER_CUBIC) of one float32 map.
 *
 * The part-consistency protocol upsamples each prototype map with cv2.resize and takes the first
 * maximum, so near-ties make the last bits matter. `arithmetic: 'opencv'` (the default) reproduces
 * OpenCV's own C++ code path for float32 images (imgproc/src/resize.cpp, `hal::resize` →
 * `resizeGeneric_<HResizeCubic, VResizeCubic>`) operation by operation:
 *
 * - scale = 1 / (out / in) in double; src = (float)((dst + 0.5) * scale - 0.5); s = floor(src);
 *   t = src - s in float32; taps s - 1 .. s + 2, indices clamped to the map (border replicated);
 * - the four weights from `interpolateCubic` (a = -0.75), every operation rounded to float32;
 * - horizontal pass first, float32 sums left to right: ((p0 + p1) + p2) + p3;
 * - vertical pass on the float32 rows: columns in blocks of 4 (the 128-bit SIMD lanes of OpenCV's
 *   universal intrinsics on x86-64) summed p0 + (p1 + (p2 + p3)) without fused multiply-add, the
 *   remaining columns left to right as in the scalar loop;
 * - an output of the input's size is a plain copy (cv::resize does the same).
 *
 * Other OpenCV builds differ in the last bits (see docs/evaluation.md): x86-64 wheels built with IPP
 * route float32 INTER_CUBIC through IPP's resize, aarch64 builds fuse the vertical multiply-adds, and
 * OpenCV before 4.3 summed the vertical taps left to right. `arithmetic: 'float64'` evaluates the same
 * formula exactly in double precision (a reference for tests and for display).
 */
import { InputError } from '../util/errors.ts';
import { cubicResizeInEngine, type EngineTaps } from './cubic-engine.ts';

/** How the weights and sums are evaluated; see the module comment. */
export type CubicArithmetic = 'opencv' | 'float64';

export interface CubicResizeOptions {
  /** Default 'opencv': OpenCV's float32 code path bit for bit (x86-64, SSE, no IPP). */
  arithmetic?: CubicArithmetic;
}

/** Columns per block in `CubicResizer.firstMax`'s bound-and-prune search. */
const FIRST_MAX_BLOCK = 32;

/** OpenCV's INTER_CUBIC kernel parameter. */
export const CV2_CUBIC_A = -0.75;

const f = Math.fround;

/**
 * The four tap weights for fractional offset `t` in [0, 1), as OpenCV's `interpolateCubic`
 * computes them: every operation in float32 (arithmetic 'opencv') or in double ('float64').
 * Weights apply to the samples at floor(src) - 1, floor(src), floor(src) + 1, floor(src) + 2.
 */
export function cubicWeights(t: number, arithmetic: CubicArithmetic = 'opencv'): [number, number, number, number] {
  const A = CV2_CUBIC_A;
  if (arithmetic === 'float64') {
    const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
    const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
    const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
    return [w0, w1, w2, 1 - w0 - w1 - w2];
  }
  const x = f(t);
  const xp1 = f(x + 1);
  // coeffs[0] = ((A*(x + 1) - 5*A)*(x + 1) + 8*A)*(x + 1) - 4*A;  5A, 8A, 4A are exact in float32
  const w0 = f(f(f(f(f(f(A * xp1) - 5 * A) * xp1) + 8 * A) * xp1) - 4 * A);
  // coeffs[1] = ((A + 2)*x - (A + 3))*x*x + 1;  A + 2 = 1.25 and A + 3 = 2.25 exactly
  const w1 = f(f(f(f(f((A + 2) * x) - (A + 3)) * x) * x) + 1);
  // coeffs[2] = ((A + 2)*(1 - x) - (A + 3))*(1 - x)*(1 - x) + 1;
  const omx = f(1 - x);
  const w2 = f(f(f(f(f((A + 2) * omx) - (A + 3)) * omx) * omx) + 1);
  // coeffs[3] = 1.f - coeffs[0] - coeffs[1] - coeffs[2];
  const w3 = f(f(f(1 - w0) - w1) - w2);
  return [w0, w1, w2, w3];
}

/** Per output index along one axis: the first tap's source index (floor(src) - 1) and 4 weights. */
export interface AxisTaps {
  /** floor(src) for each output index. */
  base: Int32Array;
  /** 4 weights per output index. */
  weights: Float64Array;
}

/**
 * Source positions and weights along one axis, as OpenCV computes them for INTER_CUBIC:
 * src = (float)((d + 0.5) * (1 / (out / in)) - 0.5) (double arithmetic, then one rounding to float32
 * for 'opencv'), base = floor(src), t = src - base.
 */
export function axisTaps(inSize: number, outSize: number, arithmetic: CubicArithmetic = 'opencv'): AxisTaps {
  const invScale = outSize / inSize;
  const scale = 1 / invScale;
  const base = new Int32Array(outSize);
  const weights = new Float64Array(outSize * 4);
  for (let d = 0; d < outSize; d++) {
    const pos = arithmetic === 'opencv' ? f((d + 0.5) * scale - 0.5) : (d + 0.5) * scale - 0.5;
    const s = Math.floor(pos);
    const t = arithmetic === 'opencv' ? f(pos - s) : pos - s;
    base[d] = s;
    weights.set(cubicWeights(t, arithmetic), d * 4);
  }
  return { base, weights };
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`resizeCubicCv2: ${name} must be a positive integer, got ${v}`);
}

/**
 * A reusable bicubic resizer for maps of one size to one output size (the tap tables are computed
 * once). `resize` is cv2.resize(map, (outW, outH), interpolation=cv2.INTER_CUBIC) for float32 maps.
 */
export class CubicResizer {
  readonly arithmetic: CubicArithmetic;
  private readonly xt: AxisTaps;
  private readonly yt: AxisTaps;
  private readonly rows: Float64Array;
  private engineTaps?: EngineTaps;
  private scratch?: { hi: Float64Array; lo: Float64Array; bounds: Float64Array; margins: Float64Array; vals: Float64Array };

  constructor(
    readonly inHeight: number,
    readonly inWidth: number,
    readonly outHeight: number,
    readonly outWidth: number,
    options: CubicResizeOptions = {},
  ) {
    checkSize('input height', inHeight);
    checkSize('input width', inWidth);
    checkSize('output height', outHeight);
    checkSize('output width', outWidth);
    this.arithmetic = options.arithmetic ?? 'opencv';
    if (this.arithmetic !== 'opencv' && this.arithmetic !== 'float64') {
      throw new InputError(`resizeCubicCv2: arithmetic must be 'opencv' or 'float64', got '${String(this.arithmetic)}'`);
    }
    this.xt = axisTaps(inWidth, outWidth, this.arithmetic);
    this.yt = axisTaps(inHeight, outHeight, this.arithmetic);
    this.rows = new Float64Array(inHeight * outWidth);
  }

  /**
   * Resize one map (inHeight x inWidth, row-major) into `out` (outHeight x outWidth, row-major;
   * allocated when omitted). With 'opencv' arithmetic the result is float32 in any case; a
   * Float64Array `out` keeps 'float64' results unrounded.
   */
  resize<T extends Float32Array | Float64Array = Float32Array>(src: ArrayLike<number>, out?: T): T {
    const { inHeight: h, inWidth: w, outHeight: H, outWidth: W } = this;
    if (this.arithmetic !== 'opencv' || (h === H && w === W)) return this.resizeJs(src, out);
    if (src.length !== h * w) throw new InputError(`resizeCubicCv2: map has ${src.length} values, ${h} x ${w} = ${h * w} expected`);
    const dst = (out ?? new Float32Array(H * W)) as T;
    if (dst.length !== H * W) throw new InputError(`resizeCubicCv2: output has ${dst.length} values, ${H} x ${W} = ${H * W} expected`);
    cubicResizeInEngine(src, h, w, H, W, this.engineTables()!, dst);
    return dst;
  }

  /**
   * The tap tables in the engine's layout (float32 weights), made on first use; null when `resize`
   * does not use the engine (float64 arithmetic, or an output of the input's size).
   */
  engineTables(): EngineTaps | null {
    if (this.arithmetic !== 'opencv' || (this.inHeight === this.outHeight && this.inWidth === this.outWidth)) return null;
    this.engineTaps ??= { xbase: this.xt.base, xw: Float32Array.from(this.xt.weights), ybase: this.yt.base, yw: Float32Array.from(this.yt.weights) };
    return this.engineTaps;
  }

  /**
   * The same resize evaluated in JavaScript (the reference the WebAssembly engine of `resize` is
   * tested against, and the path of 'float64' arithmetic).
   */
  resizeJs<T extends Float32Array | Float64Array = Float32Array>(src: ArrayLike<number>, out?: T): T {
    const { inHeight: h, inWidth: w, outHeight: H, outWidth: W } = this;
    if (src.length !== h * w) throw new InputError(`resizeCubicCv2: map has ${src.length} values, ${h} x ${w} = ${h * w} expected`);
    const dst = (out ?? new Float32Array(H * W)) as T;
    if (dst.length !== H * W) throw new InputError(`resizeCubicCv2: output has ${dst.length} values, ${H} x ${W} = ${H * W} expected`);
    const rounding = this.arithmetic === 'opencv';
    if (h === H && w === W) {
      for (let i = 0; i < h * w; i++) dst[i] = rounding ? f(src[i]) : src[i];
      return dst;
    }
    this.horizontal(src, rounding);
    for (let d = 0; d < H; d++) this.verticalSpan(d, 0, W, dst, d * W);
    return dst;
  }

  /** Horizontal pass of every source row (all rows are used when enlarging). */
  private horizontal(src: ArrayLike<number>, rounding: boolean): void {
    const { inHeight: h, inWidth: w, outWidth: W } = this;
    const { base, weights } = this.xt;
    const rows = this.rows;
    const last = w - 1;
    for (let r = 0; r < h; r++) {
      const off = r * w;
      const ro = r * W;
      for (let d = 0; d < W; d++) {
        const s = base[d];
        const i0 = s - 1 < 0 ? 0 : s - 1 > last ? last : s - 1;
        const i1 = s < 0 ? 0 : s > last ? last : s;
        const i2 = s + 1 < 0 ? 0 : s + 1 > last ? last : s + 1;
        const i3 = s + 2 < 0 ? 0 : s + 2 > last ? last : s + 2;
        const k = d * 4;
        if (rounding) {
          const p0 = f(f(src[off + i0]) * weights[k]);
          const p1 = f(f(src[off + i1]) * weights[k + 1]);
          const p2 = f(f(src[off + i2]) * weights[k + 2]);
          const p3 = f(f(src[off + i3]) * weights[k + 3]);
          rows[ro + d] = f(f(f(p0 + p1) + p2) + p3);
        } else {
          rows[ro + d] = src[off + i0] * weights[k] + src[off + i1] * weights[k + 1] + src[off + i2] * weights[k + 2] + src[off + i3] * weights[k + 3];
        }
      }
    }
  }

  /**
   * Vertical pass for output row d, columns [x0, x1), into dst[o + x]. Each column is independent,
   * so any span gives the same values as the whole row.
   */
  private verticalSpan(d: number, x0: number, x1: number, dst: Float32Array | Float64Array, o: number): void {
    const { inHeight: h, outWidth: W } = this;
    const { base, weights } = this.yt;
    const rows = this.rows;
    const last = h - 1;
    const s = base[d];
    const r0 = (s - 1 < 0 ? 0 : s - 1 > last ? last : s - 1) * W;
    const r1 = (s < 0 ? 0 : s > last ? last : s) * W;
    const r2 = (s + 1 < 0 ? 0 : s + 1 > last ? last : s + 1) * W;
    const r3 = (s + 2 < 0 ? 0 : s + 2 > last ? last : s + 2) * W;
    const k = d * 4;
    const b0 = weights[k];
    const b1 = weights[k + 1];
    const b2 = weights[k + 2];
    const b3 = weights[k + 3];
    if (this.arithmetic === 'float64') {
      for (let x = x0; x < x1; x++) dst[o + x] = rows[r0 + x] * b0 + rows[r1 + x] * b1 + rows[r2 + x] * b2 + rows[r3 + x] * b3;
      return;
    }
    const vecEnd = W - (W % 4);
    // SIMD blocks: v_muladd(S0, b0, v_muladd(S1, b1, v_muladd(S2, b2, S3 * b3))), unfused
    const e = Math.min(x1, vecEnd);
    for (let x = x0; x < e; x++) {
      let t = f(rows[r3 + x] * b3);
      t = f(f(rows[r2 + x] * b2) + t);
      t = f(f(rows[r1 + x] * b1) + t);
      dst[o + x] = f(f(rows[r0 + x] * b0) + t);
    }
    // scalar tail: S0*b0 + S1*b1 + S2*b2 + S3*b3, left to right
    for (let x = Math.max(x0, vecEnd); x < x1; x++) {
      dst[o + x] = f(f(f(f(rows[r0 + x] * b0) + f(rows[r1 + x] * b1)) + f(rows[r2 + x] * b2)) + f(rows[r3 + x] * b3));
    }
  }

  /**
   * The first maximum (row-major) of `resize(src)` and its value, without computing every output:
   * the horizontal pass is done in full, then each output row is split into blocks of 8 columns and a
   * block is evaluated (with exactly the arithmetic of `resize`) only if an upper bound of its values,
   * from the per-block extremes of the four source rows it mixes, can reach the best value found so
   * far (with a margin far above float32 rounding). The result is identical to
   * `argmaxFirst(resize(src))`; maps with non-finite values take that full path.
   */
  firstMax(src: ArrayLike<number>): { index: number; value: number } {
    const { inHeight: h, inWidth: w, outHeight: H, outWidth: W } = this;
    if (src.length !== h * w) throw new InputError(`resizeCubicCv2: map has ${src.length} values, ${h} x ${w} = ${h * w} expected`);
    let finite = true;
    for (let i = 0; i < src.length && finite; i++) finite = Number.isFinite(src[i]);
    if (!finite || (h === H && w === W)) {
      const full = this.resize(src, new Float64Array(H * W));
      const index = argmaxFirst(full, 'upsampled map');
      return { index, value: full[index] };
    }
    this.horizontal(src, this.arithmetic === 'opencv');
    const rows = this.rows;
    const BLK = FIRST_MAX_BLOCK;
    const nb = Math.ceil(W / BLK);
    const sc = this.scratch ?? (this.scratch = { hi: new Float64Array(h * nb), lo: new Float64Array(h * nb), bounds: new Float64Array(H * nb), margins: new Float64Array(H * nb), vals: new Float64Array(W) });
    const { hi, lo, bounds, margins, vals } = sc;
    // per source row and column block: max and min of the horizontal pass
    for (let r = 0; r < h; r++) {
      for (let b = 0; b < nb; b++) {
        let mx = -Infinity;
        let mn = Infinity;
        const e = Math.min(W, (b + 1) * BLK);
        for (let x = b * BLK; x < e; x++) {
          const v = rows[r * W + x];
          if (v > mx) mx = v;
          if (v < mn) mn = v;
        }
        hi[r * nb + b] = mx;
        lo[r * nb + b] = mn;
      }
    }
    const { base, weights } = this.yt;
    const last = h - 1;
    let top = 0;
    for (let d = 0; d < H; d++) {
      const s = base[d];
      const k = d * 4;
      const r0 = (s - 1 < 0 ? 0 : s - 1 > last ? last : s - 1) * nb;
      const r1 = (s < 0 ? 0 : s > last ? last : s) * nb;
      const r2 = (s + 1 < 0 ? 0 : s + 1 > last ? last : s + 1) * nb;
      const r3 = (s + 2 < 0 ? 0 : s + 2 > last ? last : s + 2) * nb;
      const w0 = weights[k];
      const w1 = weights[k + 1];
      const w2 = weights[k + 2];
      const w3 = weights[k + 3];
      for (let b = 0; b < nb; b++) {
        const ub =
          (w0 >= 0 ? w0 * hi[r0 + b] : w0 * lo[r0 + b]) +
          (w1 >= 0 ? w1 * hi[r1 + b] : w1 * lo[r1 + b]) +
          (w2 >= 0 ? w2 * hi[r2 + b] : w2 * lo[r2 + b]) +
          (w3 >= 0 ? w3 * hi[r3 + b] : w3 * lo[r3 + b]);
        const mag =
          Math.abs(w0) * Math.max(hi[r0 + b], -lo[r0 + b]) +
          Math.abs(w1) * Math.max(hi[r1 + b], -lo[r1 + b]) +
          Math.abs(w2) * Math.max(hi[r2 + b], -lo[r2 + b]) +
          Math.abs(w3) * Math.max(hi[r3 + b], -lo[r3 + b]);
        const i = d * nb + b;
        bounds[i] = ub;
        // float32 evaluation differs from the exact mix by a few units of 2^-24 of the magnitudes
        margins[i] = 1e-5 * mag + 1e-30;
        if (ub > bounds[top]) top = i;
      }
    }
    let bestIndex = -1;
    let bestValue = -Infinity;
    const evaluate = (i: number) => {
      const d = Math.floor(i / nb);
      const x0 = (i - d * nb) * BLK;
      const x1 = Math.min(W, x0 + BLK);
      this.verticalSpan(d, x0, x1, vals, 0);
      for (let x = x0; x < x1; x++) {
        const v = vals[x];
        const idx = d * W + x;
        if (v > bestValue || (v === bestValue && idx < bestIndex)) {
          bestValue = v;
          bestIndex = idx;
        }
      }
    };
    evaluate(top);
    for (let i = 0; i < H * nb; i++) {
      if (i !== top && bounds[i] + margins[i] >= bestValue) evaluate(i);
    }
    return { index: bestIndex, value: bestValue };
  }
}

/**
 * cv2.resize(map, (outWidth, outHeight), interpolation=cv2.INTER_CUBIC) for one float32 map
 * (inHeight x inWidth, row-major). Also serves display upsampling of heatmaps.
 */
export function resizeCubicCv2(
  src: ArrayLike<number>,
  inHeight: number,
  inWidth: number,
  outHeight: number,
  outWidth: number,
  options: CubicResizeOptions = {},
): Float32Array {
  return new CubicResizer(inHeight, inWidth, outHeight, outWidth, options).resize(src);
}

/**
 * Index of the first maximum in row-major order, as numpy's `np.where(a == a.max())` first hit.
 * A NaN makes the reference fail (nothing equals a NaN maximum), so it is an InputError here.
 */
export function argmaxFirst(values: ArrayLike<number>, what = 'map'): number {
  if (values.length === 0) throw new InputError(`${what}: empty, no maximum`);
  let best = 0;
  let max = values[0];
  if (Number.isNaN(max)) throw new InputError(`${what}: value 0 is NaN`);
  for (let i = 1; i < values.length; i++) {
    const v = values[i];
    if (v > max) {
      max = v;
      best = i;
    } else if (Number.isNaN(v)) throw new InputError(`${what}: value ${i} is NaN`);
  }
  return best;
}
