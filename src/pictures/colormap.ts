/**
 * The viridis colormap (van der Walt and Smith, matplotlib 2.0 default): perceptually uniform, readable
 * in greyscale and by the common forms of colour blindness, luminance rising monotonically from dark
 * purple (#440154) to yellow (#fde725).
 *
 * Built here from published control points: every 8th entry (and the last) of matplotlib's 256-entry
 * table `_viridis_data` (lib/matplotlib/_cm_listed.py), interpolated linearly in sRGB. The resulting
 * 256-entry LUT is within 2/255 of matplotlib's table in every channel.
 */

/** Control points: [index in matplotlib's 256-entry table, r, g, b] with channels in [0, 1]. */
const VIRIDIS_CONTROL_POINTS: readonly (readonly [number, number, number, number])[] = [
  [0, 0.267004, 0.004874, 0.329415],
  [8, 0.277018, 0.050344, 0.375715],
  [16, 0.282327, 0.094955, 0.417331],
  [24, 0.282884, 0.135920, 0.453427],
  [32, 0.278826, 0.175490, 0.483397],
  [40, 0.270595, 0.214069, 0.507052],
  [48, 0.258965, 0.251537, 0.524736],
  [56, 0.244972, 0.287675, 0.537260],
  [64, 0.229739, 0.322361, 0.545706],
  [72, 0.214298, 0.355619, 0.551184],
  [80, 0.199430, 0.387607, 0.554642],
  [88, 0.185556, 0.418570, 0.556753],
  [96, 0.172719, 0.448791, 0.557885],
  [104, 0.160665, 0.478540, 0.558115],
  [112, 0.149039, 0.508051, 0.557250],
  [120, 0.137770, 0.537492, 0.554906],
  [128, 0.127568, 0.566949, 0.550556],
  [136, 0.120565, 0.596422, 0.543611],
  [144, 0.120638, 0.625828, 0.533488],
  [152, 0.132268, 0.655014, 0.519661],
  [160, 0.157851, 0.683765, 0.501686],
  [168, 0.196571, 0.711827, 0.479221],
  [176, 0.246070, 0.738910, 0.452024],
  [184, 0.304148, 0.764704, 0.419943],
  [192, 0.369214, 0.788888, 0.382914],
  [200, 0.440137, 0.811138, 0.340967],
  [208, 0.515992, 0.831158, 0.294279],
  [216, 0.595839, 0.848717, 0.243329],
  [224, 0.678489, 0.863742, 0.189503],
  [232, 0.762373, 0.876424, 0.137064],
  [240, 0.845561, 0.887322, 0.099702],
  [248, 0.926106, 0.897330, 0.104071],
  [255, 0.993248, 0.906157, 0.143936],
];

function buildLut(): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  let seg = 0;
  for (let i = 0; i < 256; i++) {
    while (VIRIDIS_CONTROL_POINTS[seg + 1][0] < i) seg++;
    const [i0, r0, g0, b0] = VIRIDIS_CONTROL_POINTS[seg];
    const [i1, r1, g1, b1] = VIRIDIS_CONTROL_POINTS[seg + 1];
    const f = (i - i0) / (i1 - i0);
    lut[i * 3] = Math.round(255 * (r0 + f * (r1 - r0)));
    lut[i * 3 + 1] = Math.round(255 * (g0 + f * (g1 - g0)));
    lut[i * 3 + 2] = Math.round(255 * (b0 + f * (b1 - b0)));
  }
  return lut;
}

/** Viridis as a 256-entry 8-bit sRGB LUT, `lut[3 * i + c]` for level i in 0..255, channel c (r, g, b). */
export const VIRIDIS_LUT: Readonly<Uint8Array> = buildLut();

/** The viridis colour of t in [0, 1] (clamped; NaN counts as 0), as 8-bit [r, g, b]. */
export function viridis(t: number): [number, number, number] {
  const i = viridisLevel(t) * 3;
  return [VIRIDIS_LUT[i], VIRIDIS_LUT[i + 1], VIRIDIS_LUT[i + 2]];
}

/** The LUT level (0..255) of t in [0, 1]: round(255 t), clamped; NaN counts as 0. */
export function viridisLevel(t: number): number {
  if (!(t > 0)) return 0;
  if (t >= 1) return 255;
  return Math.round(t * 255);
}
