/*
 * OpenCV's float32 INTER_CUBIC resize (the arithmetic of src/pictures/resize-cv2.ts, operation by
 * operation) and the ProtoPNet high-activation box (numpy's linear percentile, then the bounding box of
 * the pixels at or above it), compiled to WebAssembly (scripts/build-wasm.sh). IEEE float32
 * arithmetic without contraction (WebAssembly has no fused multiply-add), so every value equals the
 * JavaScript emulation's (tested bit for bit). Tap tables come from the caller (axisTaps).
 */
typedef int i32;

/*
 * src (h x w) -> dst (H x W). xbase/xw: per output column floor(src) and 4 float32 weights; ybase/yw
 * the same per output row. rows: scratch of h x W floats (the horizontal pass of every source row).
 */
__attribute__((export_name("cubic_resize")))
void cubic_resize(const float *src, i32 h, i32 w, const i32 *xbase, const float *xw, const i32 *ybase, const float *yw, i32 H, i32 W, float *rows, float *dst) {
  const i32 lastX = w - 1;
  for (i32 r = 0; r < h; r++) {
    const float *s = src + r * w;
    float *o = rows + r * W;
    for (i32 d = 0; d < W; d++) {
      const i32 b = xbase[d];
      const i32 i0 = b - 1 < 0 ? 0 : b - 1 > lastX ? lastX : b - 1;
      const i32 i1 = b < 0 ? 0 : b > lastX ? lastX : b;
      const i32 i2 = b + 1 < 0 ? 0 : b + 1 > lastX ? lastX : b + 1;
      const i32 i3 = b + 2 < 0 ? 0 : b + 2 > lastX ? lastX : b + 2;
      const float *k = xw + d * 4;
      const float p0 = s[i0] * k[0];
      const float p1 = s[i1] * k[1];
      const float p2 = s[i2] * k[2];
      const float p3 = s[i3] * k[3];
      o[d] = ((p0 + p1) + p2) + p3;
    }
  }
  const i32 lastY = h - 1;
  const i32 vecEnd = W - (W % 4);
  for (i32 d = 0; d < H; d++) {
    const i32 b = ybase[d];
    const float *r0 = rows + (b - 1 < 0 ? 0 : b - 1 > lastY ? lastY : b - 1) * W;
    const float *r1 = rows + (b < 0 ? 0 : b > lastY ? lastY : b) * W;
    const float *r2 = rows + (b + 1 < 0 ? 0 : b + 1 > lastY ? lastY : b + 1) * W;
    const float *r3 = rows + (b + 2 < 0 ? 0 : b + 2 > lastY ? lastY : b + 2) * W;
    const float *k = yw + d * 4;
    const float b0 = k[0], b1 = k[1], b2 = k[2], b3 = k[3];
    float *o = dst + d * W;
    /* OpenCV's SIMD blocks: S0*b0 + (S1*b1 + (S2*b2 + S3*b3)) */
    for (i32 x = 0; x < vecEnd; x++) {
      float t = r3[x] * b3;
      t = r2[x] * b2 + t;
      t = r1[x] * b1 + t;
      o[x] = r0[x] * b0 + t;
    }
    /* the scalar tail, left to right */
    for (i32 x = vecEnd; x < W; x++) o[x] = ((r0[x] * b0 + r1[x] * b1) + r2[x] * b2) + r3[x] * b3;
  }
}

static void select_in_place(float *a, i32 k, i32 lo, i32 hi) {
  while (hi > lo) {
    const i32 mid = (lo + hi) >> 1;
    float t;
    if (a[mid] < a[lo]) { t = a[mid]; a[mid] = a[lo]; a[lo] = t; }
    if (a[hi] < a[lo]) { t = a[hi]; a[hi] = a[lo]; a[lo] = t; }
    if (a[hi] < a[mid]) { t = a[hi]; a[hi] = a[mid]; a[mid] = t; }
    const float pivot = a[mid];
    i32 i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/*
 * The box of the pixels of `map` (h x w) at or above its pct-th percentile (numpy's linear method,
 * interpolated in double as numpy does), written to out as x, y, width, height. `work` is scratch of
 * w x h floats. Returns -1, or the index of the first value that is not finite (then out is untouched).
 */
__attribute__((export_name("percentile_box")))
i32 percentile_box(const float *map, i32 w, i32 h, double pct, float *work, i32 *out) {
  const i32 n = w * h;
  for (i32 x = 0; x < n; x++) {
    const float v = map[x];
    if (!(v - v == 0.0f)) return x;
    work[x] = v;
  }
  const double r = pct / 100.0 * (double)(n - 1);
  const i32 i = (i32)r; /* r >= 0: truncation is floor */
  double threshold;
  if (i >= n - 1) {
    float m = map[0];
    for (i32 x = 1; x < n; x++) if (map[x] > m) m = map[x];
    threshold = m;
  } else {
    select_in_place(work, i, 0, n - 1);
    const double vi = work[i];
    float next = work[i + 1];
    for (i32 x = i + 2; x < n; x++) if (work[x] < next) next = work[x];
    const double vi1 = next;
    const double f = r - (double)i;
    const double d = vi1 - vi;
    threshold = f >= 0.5 ? vi1 - d * (1.0 - f) : vi + d * f;
  }
  i32 x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (i32 y = 0; y < h; y++) {
    const float *row = map + y * w;
    for (i32 x = 0; x < w; x++) {
      if ((double)row[x] >= threshold) {
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        y2 = y;
      }
    }
  }
  out[0] = x1;
  out[1] = y1;
  out[2] = x2 - x1 + 1;
  out[3] = y2 - y1 + 1;
  return -1;
}

typedef unsigned char u8;

/*
 * JavaScript's Math.round for 0 <= x < 2^31 (halves up), exactly: x minus its integer part is exact in
 * double. One conversion per value (conversions, not arithmetic, are what these loops spend).
 */
static i32 round_half_up(double x) {
  const i32 f = (i32)x;
  return x - (double)f >= 0.5 ? f + 1 : f;
}

/*
 * A heatmap laid over an RGB image, with the arithmetic of the JavaScript path (normaliseMap,
 * intensityRgba, blendRgba in src/pictures), value for value: map (n floats, already at the picture's
 * size) normalised to [0, 1] by its own range (perMap) or by [lo, hi], stored as float32; viridis level
 * round(255 t) from lut (256 x 3); alpha round(255 opacity t) (fromIntensity) or round(255 opacity);
 * "over" in double with one rounding. img and out: n x 3 bytes (may not overlap).
 */
__attribute__((export_name("heat_blend")))
void heat_blend(const float *map, i32 n, i32 perMap, double lo, double hi, double opacity, i32 fromIntensity, const u8 *lut, const u8 *img, u8 *out) {
  if (perMap) {
    lo = 1.0 / 0.0;
    hi = -1.0 / 0.0;
    for (i32 i = 0; i < n; i++) {
      const double v = map[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const i32 valid = hi > lo;
  const double inv = valid ? 1.0 / (hi - lo) : 0.0;
  const i32 constAlpha = round_half_up(255.0 * opacity);
  const double scale = 255.0 * opacity;
  for (i32 p = 0; p < n; p++) {
    float t = 0.0f;
    if (valid) {
      const double u = ((double)map[p] - lo) * inv;
      t = (float)(u < 0.0 ? 0.0 : u > 1.0 ? 1.0 : u);
    }
    const double td = t;
    const i32 level = !(td > 0.0) ? 0 : td >= 1.0 ? 255 : round_half_up(td * 255.0);
    const i32 alpha = fromIntensity ? (td > 0.0 ? round_half_up(scale * td) : 0) : constAlpha;
    const u8 *c = lut + level * 3;
    const u8 *s = img + p * 3;
    u8 *o = out + p * 3;
    if (alpha == 0) {
      o[0] = s[0];
      o[1] = s[1];
      o[2] = s[2];
      continue;
    }
    const double a = (double)alpha / 255.0;
    const double b = 1.0 - a;
    o[0] = (u8)round_half_up((double)c[0] * a + (double)s[0] * b);
    o[1] = (u8)round_half_up((double)c[1] * a + (double)s[1] * b);
    o[2] = (u8)round_half_up((double)c[2] * a + (double)s[2] * b);
  }
}
