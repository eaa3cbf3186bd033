/**
 * The WebAssembly engine (src/pictures/wasm/cubic.c) of the per-pixel steps every prototype box and
 * heatmap picture takes: OpenCV's float32 INTER_CUBIC resize, the percentile box and the heatmap laid
 * over the image. Same values as the JavaScript references (CubicResizer.resizeJs, boxAtPercentileJs,
 * normaliseMap + intensityRgba + blendRgba), bit for bit (tested), several times faster.
 */
import { Arena, instantiateBase64, type WasmMemoryExports } from '../util/wasm.ts';
import { CUBIC_WASM_BASE64 } from './wasm/cubic-wasm.ts';

interface CubicExports extends WasmMemoryExports {
  cubic_resize(src: number, h: number, w: number, xbase: number, xw: number, ybase: number, yw: number, H: number, W: number, rows: number, dst: number): void;
  percentile_box(map: number, w: number, h: number, pct: number, work: number, out: number): number;
  heat_blend(map: number, n: number, perMap: number, lo: number, hi: number, opacity: number, fromIntensity: number, lut: number, img: number, out: number): void;
}

let engine: CubicExports | null = null;

function cubic(): CubicExports {
  if (!engine) engine = instantiateBase64<CubicExports>(CUBIC_WASM_BASE64);
  return engine;
}

/** Tap tables of one resize in the engine's layout: per output index floor(src) and 4 float32 weights. */
export interface EngineTaps {
  xbase: Int32Array;
  xw: Float32Array;
  ybase: Int32Array;
  yw: Float32Array;
}

/** cv2.resize(src, (W, H), INTER_CUBIC) of a float32 map (h x w) with OpenCV's float32 arithmetic, into `dst`. */
export function cubicResizeInEngine(src: ArrayLike<number>, h: number, w: number, H: number, W: number, taps: EngineTaps, dst: Float32Array | Float64Array): void {
  const m = cubic();
  const out = resizeInArena(m, new Arena(m), src, h, w, H, W, taps);
  dst.set(new Float32Array(m.memory.buffer, out, H * W));
}

/** A percentile box in image pixels, or the index of the first value that was not finite. */
export type EngineBox = { x: number; y: number; width: number; height: number } | { nonFinite: number };

/** The box written at `out` by percentile_box, or the non-finite index it returned. */
function boxResult(m: CubicExports, bad: number, out: number): EngineBox {
  if (bad >= 0) return { nonFinite: bad };
  const [x, y, width, height] = new Int32Array(m.memory.buffer, out, 4);
  return { x, y, width, height };
}

/** Copy src and the tap tables into the arena and resize there; returns the output's address. */
function resizeInArena(m: CubicExports, arena: Arena, src: ArrayLike<number>, h: number, w: number, H: number, W: number, taps: EngineTaps): number {
  const s = arena.alloc(h * w * 4);
  new Float32Array(m.memory.buffer, s, h * w).set(src);
  const xbase = arena.put(taps.xbase);
  const xw = arena.put(taps.xw);
  const ybase = arena.put(taps.ybase);
  const yw = arena.put(taps.yw);
  const rows = arena.alloc(h * W * 4);
  const out = arena.alloc(H * W * 4);
  m.cubic_resize(s, h, w, xbase, xw, ybase, yw, H, W, rows, out);
  return out;
}

/**
 * The percentile box of src (h x w) resized to H x W, in one call: the resized map stays in the
 * engine's memory (the box is what explanations and exemplars need, not the map).
 */
export function resizedBoxInEngine(src: ArrayLike<number>, h: number, w: number, H: number, W: number, taps: EngineTaps, pct: number): EngineBox {
  const m = cubic();
  const arena = new Arena(m);
  const map = resizeInArena(m, arena, src, h, w, H, W, taps);
  const work = arena.alloc(H * W * 4);
  const out = arena.alloc(16);
  return boxResult(m, m.percentile_box(map, W, H, pct, work, out), out);
}

/**
 * The box of the pixels of `map` (h x w) at or above its `pct`-th percentile (numpy's linear
 * percentile), or the index of the first value that is not finite.
 */
export function percentileBoxInEngine(map: Float32Array, w: number, h: number, pct: number): EngineBox {
  const m = cubic();
  const arena = new Arena(m);
  const at = arena.put(map);
  const work = arena.alloc(map.byteLength);
  const out = arena.alloc(16);
  return boxResult(m, m.percentile_box(at, w, h, pct, work, out), out);
}

/** How heatBlendInEngine colours a map: its own range or a fixed one, viridis, alpha from opacity. */
export interface EngineHeat {
  /** 'per-map' or a fixed [min, max] range. */
  range: 'per-map' | { min: number; max: number };
  opacity: number;
  alphaFromIntensity: boolean;
  /** 256 x 3 bytes. */
  lut: Readonly<Uint8Array>;
}

/**
 * The map (h x w) resized to the picture (H x W; `taps` null when the sizes are equal), coloured and
 * laid over `imageRgb` (H x W x 3) in one call: the same bytes as normaliseMap, intensityRgba and
 * blendRgba in JavaScript (tested), without the upsampled map or the RGBA layer leaving the engine.
 */
export function heatBlendInEngine(src: ArrayLike<number>, h: number, w: number, H: number, W: number, taps: EngineTaps | null, imageRgb: Uint8Array, heat: EngineHeat): Uint8Array {
  const m = cubic();
  const arena = new Arena(m);
  let map: number;
  if (taps) map = resizeInArena(m, arena, src, h, w, H, W, taps);
  else {
    map = arena.alloc(H * W * 4);
    new Float32Array(m.memory.buffer, map, H * W).set(src);
  }
  const lut = arena.put(heat.lut);
  const img = arena.put(imageRgb);
  const out = arena.alloc(H * W * 3);
  const [perMap, lo, hi] = heat.range === 'per-map' ? [1, 0, 0] : [0, heat.range.min, heat.range.max];
  m.heat_blend(map, H * W, perMap, lo, hi, heat.opacity, heat.alphaFromIntensity ? 1 : 0, lut, img, out);
  return new Uint8Array(m.memory.buffer, out, H * W * 3).slice();
}
