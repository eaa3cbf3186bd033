/**
 * PyTorch's resizes, as the evaluation references call them: `F.interpolate(mode='bilinear',
 * align_corners=False)` on float maps and torchvision's `NEAREST_EXACT` on 8-bit masks, with their
 * index arithmetic in float32 (scale = in / out as a float, half-pixel centres, source index clamped
 * at 0 and at the last row/column).
 */
const f = Math.fround;

/** Source index and weight of each output position (bilinear, align_corners=False). */
function linearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; l1: Float32Array } {
  const scale = f(inSize / outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float32Array(outSize);
  for (let d = 0; d < outSize; d++) {
    let src = f(f(scale * f(d + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const lo = Math.floor(src);
    i0[d] = lo;
    i1[d] = lo < inSize - 1 ? lo + 1 : lo;
    l1[d] = f(src - lo);
  }
  return { i0, i1, l1 };
}

/** `F.interpolate(src[None, None], (outH, outW), mode='bilinear', align_corners=False)` of an h x w map, float32. */
export function resizeBilinearTorch(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  if (src.length !== h * w) throw new Error(`resizeBilinearTorch: ${src.length} values for a ${h} x ${w} map`);
  const ty = linearTaps(h, outH);
  const tx = linearTaps(w, outW);
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y] * w;
    const r1 = ty.i1[y] * w;
    const h1l = ty.l1[y];
    const h0l = f(1 - h1l);
    for (let x = 0; x < outW; x++) {
      const c0 = tx.i0[x];
      const c1 = tx.i1[x];
      const w1l = tx.l1[x];
      const w0l = f(1 - w1l);
      const top = f(f(w0l * src[r0 + c0]) + f(w1l * src[r0 + c1]));
      const bottom = f(f(w0l * src[r1 + c0]) + f(w1l * src[r1 + c1]));
      out[y * outW + x] = f(f(h0l * top) + f(h1l * bottom));
    }
  }
  return out;
}

/** Source index of each output position for NEAREST_EXACT: min(floor((d + 0.5) * in / out), in - 1). */
export function nearestExactIndex(inSize: number, outSize: number): Int32Array {
  const scale = f(inSize / outSize);
  return Int32Array.from({ length: outSize }, (_, d) => Math.min(Math.floor(f(f(d + 0.5) * scale)), inSize - 1));
}
