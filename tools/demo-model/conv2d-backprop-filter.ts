/**
 * The filter gradient of a 2-D convolution (tfjs kernel `Conv2DBackpropFilter`) computed with a
 * forward convolution, for backends that ship Conv2D but not its filter gradient (tfjs-backend-wasm).
 *
 * For NHWC input x [B, H, W, Ci], output gradient dy [B, OH, OW, Co], stride (sh, sw) and top/left
 * padding (pt, pl):
 *
 *   dW[kh, kw, ci, co] = sum over b, oh, ow of xpad[b, oh*sh + kh, ow*sw + kw, ci] * dy[b, oh, ow, co]
 *
 * which is a forward convolution with the batch axis playing the channel axis:
 *   input  x' = transpose(x,  [3, 1, 2, 0])  [Ci, H, W, B]    (Ci plays the batch)
 *   filter f' = transpose(dy, [1, 2, 0, 3])  [OH, OW, B, Co]  (HWIO, B plays the input channels)
 *   stride 1, dilation (sh, sw), explicit padding top pt, left pl, bottom/right chosen so that the
 *   output is exactly KH x KW; rows/columns of x that no output position reads (possible with
 *   'valid' padding and stride > 1) are sliced off first, since padding cannot be negative;
 *   output y [Ci, KH, KW, Co], and dW = transpose(y, [1, 2, 0, 3]).
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Attributes tfjs passes to Conv2DBackpropFilter (see tfjs-core conv2DBackpropFilter). */
export interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Geometry of the forward convolution that yields the filter gradient. */
export interface FilterGradPlan {
  /** Rows / columns of x kept (a prefix; the rest is never read by the convolution). */
  usedHeight: number;
  usedWidth: number;
  /** Explicit padding of the forward convolution over x' (top, bottom, left, right). */
  pads: [number, number, number, number];
  dilations: [number, number];
}

/**
 * Plan the forward convolution for given shapes: pure arithmetic, exported for tests.
 * `padTop`/`padLeft` are the forward convolution's leading paddings (TF 'same' puts the odd pixel
 * at the bottom/right, so the trailing padding is derived, never assumed symmetric).
 */
export function planFilterGrad(
  inHeight: number, inWidth: number, outHeight: number, outWidth: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number,
  padTop: number, padLeft: number,
): FilterGradPlan {
  // Output extent of a stride-1 conv with dilated (OH x OW) filter must be KH: the last input row
  // read is (OH-1)*sh + KH-1 - pt (in unpadded coordinates).
  const needH = (outHeight - 1) * strideHeight + filterHeight - padTop;
  const needW = (outWidth - 1) * strideWidth + filterWidth - padLeft;
  const usedHeight = Math.min(inHeight, needH);
  const usedWidth = Math.min(inWidth, needW);
  return {
    usedHeight,
    usedWidth,
    pads: [padTop, needH - usedHeight, padLeft, needW - usedWidth],
    dilations: [strideHeight, strideWidth],
  };
}

interface KernelArgs {
  inputs: { x: tf.TensorInfo; dy: tf.TensorInfo };
  backend: tf.KernelBackend;
  attrs: Conv2DBackpropFilterAttrs;
}

function kernelFuncOf(name: string, backendName: string): tf.KernelFunc {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`Conv2DBackpropFilter via conv: backend '${backendName}' has no ${name} kernel`);
  return k.kernelFunc;
}

/**
 * Build the kernel function for a backend; it composes that backend's own Slice, Transpose and
 * Conv2D kernels and releases every intermediate.
 */
export function makeConv2DBackpropFilterViaConv(backendName: string): tf.KernelFunc {
  const slice = kernelFuncOf('Slice', backendName);
  const transpose = kernelFuncOf('Transpose', backendName);
  const conv2d = kernelFuncOf('Conv2D', backendName);
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const { x, dy } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    if (dataFormat !== undefined && dataFormat !== 'NHWC') {
      throw new Error(`Conv2DBackpropFilter via conv: only NHWC is supported, got dataFormat '${dataFormat}'`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast',
    );
    const plan = planFilterGrad(
      info.inHeight, info.inWidth, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth,
      info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
    );
    const temps: tf.TensorInfo[] = [];
    const run = (f: tf.KernelFunc, inp: Record<string, tf.TensorInfo>, a: Record<string, unknown>): tf.TensorInfo => {
      const out = f({ inputs: inp, backend, attrs: a as tf.NamedAttrMap }) as tf.TensorInfo;
      temps.push(out);
      return out;
    };
    try {
      let xs = x;
      if (plan.usedHeight < info.inHeight || plan.usedWidth < info.inWidth) {
        xs = run(slice, { x }, { begin: [0, 0, 0, 0], size: [info.batchSize, plan.usedHeight, plan.usedWidth, info.inChannels] });
      }
      const xT = run(transpose, { x: xs }, { perm: [3, 1, 2, 0] });
      const dyT = run(transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const [pt, pb, pl, pr] = plan.pads;
      const y = run(conv2d, { x: xT, filter: dyT }, {
        strides: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC', dilations: plan.dilations,
      });
      const dw = transpose({ inputs: { x: y }, backend, attrs: { perm: [1, 2, 0, 3] } }) as tf.TensorInfo;
      return dw;
    } finally {
      for (const t of temps) backend.disposeData(t.dataId);
    }
  };
}

/**
 * Register the filter gradient on a backend (default 'wasm') unless it already has one.
 * Returns true when the kernel was registered by this call.
 */
export function registerConv2DBackpropFilterViaConv(backendName = 'wasm'): boolean {
  if (tf.getKernel('Conv2DBackpropFilter', backendName)) return false;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName, kernelFunc: makeConv2DBackpropFilterViaConv(backendName) });
  return true;
}
