/*
 * Pillow's 8-bit resample passes (libImaging/Resample.c, ImagingResampleHorizontal_8bpc and
 * ImagingResampleVertical_8bpc) for interleaved RGB, compiled to WebAssembly with SIMD
 * (scripts/build-wasm.sh). Integer arithmetic only, so vectorised sums equal Pillow's exactly.
 * Coefficients are computed by the caller (src/data/resize.ts) and passed in linear memory.
 */
typedef unsigned char u8;
typedef int i32;

#define PRECISION_BITS 22
#define HALF (1 << (PRECISION_BITS - 1))

static inline u8 clip8(i32 ss) {
  i32 v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (u8)v;
}

/* Rows [y0, y0 + rows) of `src` (inW wide) into `out` (outW wide, `rows` rows). */
__attribute__((export_name("horizontal")))
void horizontal(const u8 *src, i32 inW, i32 y0, i32 rows, i32 outW, const i32 *start, const i32 *count, const i32 *k, i32 ksize, u8 *out) {
  for (i32 y = 0; y < rows; y++) {
    const u8 *row = src + (y + y0) * inW * 3;
    u8 *o = out + y * outW * 3;
    for (i32 xx = 0; xx < outW; xx++) {
      i32 s0 = HALF, s1 = HALF, s2 = HALF;
      const i32 *kk = k + xx * ksize;
      const u8 *p = row + start[xx] * 3;
      i32 n = count[xx];
      for (i32 t = 0; t < n; t++, p += 3) {
        i32 w = kk[t];
        s0 += p[0] * w;
        s1 += p[1] * w;
        s2 += p[2] * w;
      }
      o[xx * 3] = clip8(s0);
      o[xx * 3 + 1] = clip8(s1);
      o[xx * 3 + 2] = clip8(s2);
    }
  }
}

/* `outH` rows of `out` from the rows of `src` (w wide; row r of the image is row r - rowOffset). */
__attribute__((export_name("vertical")))
void vertical(const u8 *src, i32 w, i32 outH, const i32 *start, const i32 *count, const i32 *k, i32 ksize, i32 rowOffset, u8 *out, i32 *acc) {
  i32 stride = w * 3;
  for (i32 yy = 0; yy < outH; yy++) {
    const i32 *kk = k + yy * ksize;
    const u8 *p = src + (start[yy] - rowOffset) * stride;
    i32 n = count[yy];
    for (i32 i = 0; i < stride; i++) acc[i] = HALF;
    for (i32 t = 0; t < n; t++, p += stride) {
      i32 wt = kk[t];
      for (i32 i = 0; i < stride; i++) acc[i] += p[i] * wt;
    }
    u8 *o = out + yy * stride;
    for (i32 i = 0; i < stride; i++) o[i] = clip8(acc[i]);
  }
}
