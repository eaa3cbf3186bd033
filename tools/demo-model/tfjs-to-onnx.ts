/**
 * Export a tfjs-layers classifier (a chain of layers, NHWC) to an ONNX graph that takes NCHW
 * float32 input, built with src/onnx/builder.ts.
 *
 * Layers and what they become:
 *  - Conv2D (channelsLast, any stride/dilation, 'same' or 'valid'): Conv with the HWIO kernel
 *    transposed to OIHW and explicit pads. TF's 'same' pads total = max((ceil(in/s) - 1) * s +
 *    (k - 1) * d + 1 - in, 0), floor(total/2) before and the rest after, so at stride 2 on an even
 *    size the extra pixel goes at the bottom/right: pads are computed from the (fixed) input size,
 *    never auto_pad. An activation 'relu' adds a Relu.
 *  - BatchNormalization over the channel axis: BatchNormalization (inference: moving mean and
 *    variance, the layer's epsilon), or, with `foldBatchNorm`, folded into the preceding Conv
 *    (W' = W * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps)
 *    + beta, computed in float64). Default: kept as its own node (onnxruntime folds it at load).
 *  - ReLU / Activation('relu'): Relu. Activation('linear') and Dropout: nothing.
 *  - GlobalAveragePooling2D: GlobalAveragePool + Flatten.
 *  - Flatten: Flatten, after a Transpose to NHWC order when the map is larger than 1 x 1 (so the
 *    flattened order matches tfjs').
 *  - Dense: Gemm with B stored C x D (transB = 1), the linear head the model adapter reads as W.
 *    Activation 'relu' adds Relu, 'softmax' adds Softmax.
 * Anything else is an InputError naming the layer.
 */
import * as tf from '@tensorflow/tfjs';
import { buildModel, node, tensor, valueInfo } from '../../src/onnx/builder.ts';
import type { NodeProto, TensorProto } from '../../src/onnx/proto.ts';
import { InputError } from '../../src/util/errors.ts';

/** Export settings. */
export interface TfjsToOnnxOptions {
  /** Graph input name (default 'input'). */
  inputName?: string;
  /** Graph output name (default 'logits'). */
  outputName?: string;
  /** Symbolic batch dimension (default 'N'). */
  batchDim?: string;
  /** Fold BatchNormalization into the preceding Conv (default false). */
  foldBatchNorm?: boolean;
  /** ONNX opset (default 17). */
  opset?: number;
  /** Graph name (default: the tfjs model's name). */
  graphName?: string;
}

/** The exported model and what a caller needs to know about it. */
export interface OnnxExport {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** [batchDim, C, H, W]. */
  inputShape: [string, number, number, number];
  /** [batchDim, outputs]. */
  outputShape: [string, number];
  /** Input of the (last) GlobalAveragePool: the feature map, when the model pools. */
  featureTensor: string | null;
  /** ONNX op types in graph order. */
  ops: string[];
  foldedBatchNorm: boolean;
}

type Shape =
  | { kind: 'map'; c: number; h: number; w: number }
  | { kind: 'flat'; d: number };

interface LastConv {
  node: NodeProto;
  weight: TensorProto;
  bias: TensorProto | null;
  w: Float32Array; // OIHW
  b: Float32Array;
  out: number;
}

/** TF padding for one spatial axis: output size and (before, after) pads. */
export function tfPadding(inSize: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): { out: number; before: number; after: number } {
  const eff = (kernel - 1) * dilation + 1;
  if (padding === 'valid') {
    const out = Math.floor((inSize - eff) / stride) + 1;
    if (out < 1) throw new Error(`'valid' convolution: input ${inSize} is smaller than the kernel extent ${eff}`);
    return { out, before: 0, after: 0 };
  }
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + eff - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

function pair(v: unknown, what: string, layer: string): [number, number] {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || a.some((x) => !Number.isInteger(x) || (x as number) < 1)) {
    throw new InputError(`tfjs layer '${layer}': ${what} ${JSON.stringify(v)} is not one or two positive integers`);
  }
  return a as [number, number];
}

function values(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}

/** The layers of a chain model in order; throws when some layer has several inputs. */
function chainLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers;
  for (let i = 1; i < layers.length; i++) {
    const inbound = (layers[i] as unknown as { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] }).inboundNodes;
    const prev = inbound[0]?.inboundLayers ?? [];
    const expected = layers[i - 1];
    if (inbound.length !== 1 || prev.length !== 1 || (prev[0] !== expected && expected.getClassName() !== 'InputLayer')) {
      throw new InputError(`tfjs model '${model.name}': layer '${layers[i].name}' is not fed by exactly the previous layer; only layer chains can be exported`);
    }
  }
  return layers;
}

/** Export `model` (NHWC tfjs-layers chain, fixed H, W, C) to ONNX with NCHW input. */
export function exportLayersModelToOnnx(model: tf.LayersModel, options: TfjsToOnnxOptions = {}): OnnxExport {
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'logits';
  const batchDim = options.batchDim ?? 'N';
  const fold = options.foldBatchNorm ?? false;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new InputError(`tfjs model '${model.name}': expected one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const inShape = model.inputs[0].shape;
  if (inShape.length !== 4 || inShape.slice(1).some((d) => d === null || !(d > 0))) {
    throw new InputError(`tfjs model '${model.name}': input shape ${JSON.stringify(inShape)} is not [batch, H, W, C] with fixed H, W, C`);
  }
  const [, H0, W0, C0] = inShape as number[];
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let cur = inputName;
  let shape: Shape = { kind: 'map', c: C0, h: H0, w: W0 };
  let lastConv: LastConv | null = null; // a Conv whose output is `cur` and not yet consumed by anything else
  let featureTensor: string | null = null;
  let folded = false;
  const emit = (n: NodeProto) => {
    nodes.push(n);
    cur = n.output![0];
  };
  /**
   * Activation of a layer. A standalone activation layer (ReLU, Activation) names its node after the
   * layer and its output `<layer>.out`; an activation fused into Conv2D/Dense adds `<layer>.relu`.
   */
  const activation = (name: string, act: string | undefined, standalone: boolean) => {
    if (act === undefined || act === 'linear') return;
    if (act !== 'relu' && act !== 'softmax') {
      throw new InputError(`tfjs layer '${name}': activation '${act}' is not supported (relu, linear, softmax)`);
    }
    if (act === 'softmax' && shape.kind !== 'flat') throw new InputError(`tfjs layer '${name}': softmax is supported on flat outputs only`);
    const op = act === 'relu' ? 'Relu' : 'Softmax';
    const nodeName = standalone ? name : `${name}.${act}`;
    emit(node(op, [cur], [standalone ? `${name}.out` : `${name}.${act}`], act === 'softmax' ? { axis: -1 } : {}, nodeName));
    lastConv = null;
  };

  for (const layer of chainLayers(model)) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const name = layer.name;
    const weights = layer.getWeights();
    switch (cls) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Conv2D': {
        if (shape.kind !== 'map') throw new InputError(`tfjs layer '${name}': Conv2D after a flat tensor`);
        if (cfg.dataFormat !== 'channelsLast') throw new InputError(`tfjs layer '${name}': dataFormat '${String(cfg.dataFormat)}' (only channelsLast)`);
        const padding = cfg.padding as string;
        if (padding !== 'same' && padding !== 'valid') throw new InputError(`tfjs layer '${name}': padding '${padding}' is not supported (same, valid)`);
        const [kh, kw] = pair(cfg.kernelSize, 'kernelSize', name);
        const [sh, sw] = pair(cfg.strides, 'strides', name);
        const [dh, dw] = pair(cfg.dilationRate, 'dilationRate', name);
        const kernel = weights[0];
        const [, , cin, cout] = kernel.shape;
        if (cin !== shape.c) throw new InputError(`tfjs layer '${name}': kernel expects ${cin} input channels, the map has ${shape.c}`);
        const hwio = values(kernel);
        const oihw = new Float32Array(hwio.length);
        for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
          oihw[((o * cin + i) * kh + y) * kw + x] = hwio[((y * kw + x) * cin + i) * cout + o];
        }
        const ph = tfPadding(shape.h, kh, sh, dh, padding);
        const pw = tfPadding(shape.w, kw, sw, dw, padding);
        const wT = tensor(`${name}.weight`, [cout, cin, kh, kw], oihw);
        inits.push(wT);
        const b = cfg.useBias ? values(weights[1]) : new Float32Array(cout);
        let bT: TensorProto | null = null;
        if (cfg.useBias) {
          bT = tensor(`${name}.bias`, [cout], b);
          inits.push(bT);
        }
        const n = node('Conv', bT ? [cur, wT.name!, bT.name!] : [cur, wT.name!], [`${name}.out`], {
          kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [ph.before, pw.before, ph.after, pw.after], group: 1,
        }, name);
        emit(n);
        shape = { kind: 'map', c: cout, h: ph.out, w: pw.out };
        lastConv = { node: n, weight: wT, bias: bT, w: oihw, b, out: cout };
        activation(name, cfg.activation as string, false);
        break;
      }
      case 'BatchNormalization': {
        const rank = shape.kind === 'map' ? 4 : 2;
        const axis = cfg.axis as number;
        if (!(axis === -1 || axis === rank - 1)) throw new InputError(`tfjs layer '${name}': BatchNormalization over axis ${axis}; only the channel (last) axis is supported`);
        const C = shape.kind === 'map' ? shape.c : shape.d;
        let k = 0;
        const gamma = cfg.scale ? values(weights[k++]) : new Float32Array(C).fill(1);
        const beta = cfg.center ? values(weights[k++]) : new Float32Array(C);
        const mean = values(weights[k++]);
        const variance = values(weights[k++]);
        const eps = cfg.epsilon as number;
        const conv: LastConv | null = lastConv;
        if (fold && conv !== null) {
          const { w, b, out } = conv;
          const per = w.length / out;
          const nw = new Float32Array(w.length);
          const nb = new Float32Array(out);
          for (let o = 0; o < out; o++) {
            const s = gamma[o] / Math.sqrt(variance[o] + eps);
            for (let j = 0; j < per; j++) nw[o * per + j] = w[o * per + j] * s;
            nb[o] = (b[o] - mean[o]) * s + beta[o];
          }
          const wi = inits.indexOf(conv.weight);
          inits[wi] = tensor(conv.weight.name!, conv.weight.dims as number[], nw);
          const bName = `${conv.node.name}.bias`;
          if (conv.bias) inits[inits.indexOf(conv.bias)] = tensor(bName, [out], nb);
          else {
            inits.push(tensor(bName, [out], nb));
            conv.node.input = [...conv.node.input!, bName];
          }
          folded = true;
          lastConv = null;
          break;
        }
        const p = `${name}`;
        inits.push(tensor(`${p}.scale`, [C], gamma), tensor(`${p}.bias`, [C], beta), tensor(`${p}.mean`, [C], mean), tensor(`${p}.var`, [C], variance));
        emit(node('BatchNormalization', [cur, `${p}.scale`, `${p}.bias`, `${p}.mean`, `${p}.var`], [`${p}.out`], { epsilon: eps }, p));
        lastConv = null;
        break;
      }
      case 'ReLU': {
        if (cfg.maxValue !== null && cfg.maxValue !== undefined) throw new InputError(`tfjs layer '${name}': ReLU with maxValue is not supported`);
        activation(name, 'relu', true);
        break;
      }
      case 'Activation':
        activation(name, cfg.activation as string, true);
        break;
      case 'GlobalAveragePooling2D': {
        if (shape.kind !== 'map') throw new InputError(`tfjs layer '${name}': pooling a flat tensor`);
        if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') throw new InputError(`tfjs layer '${name}': dataFormat '${String(cfg.dataFormat)}' (only channelsLast)`);
        if (cfg.keepDims === true) throw new InputError(`tfjs layer '${name}': keepDims is not supported`);
        featureTensor = cur;
        emit(node('GlobalAveragePool', [cur], [`${name}.pooled`], {}, name));
        emit(node('Flatten', [cur], [`${name}.out`], { axis: 1 }, `${name}.flatten`));
        shape = { kind: 'flat', d: shape.c };
        lastConv = null;
        break;
      }
      case 'Flatten': {
        if (shape.kind === 'flat') break;
        if (shape.h * shape.w > 1) emit(node('Transpose', [cur], [`${name}.nhwc`], { perm: [0, 2, 3, 1] }, `${name}.nhwc`));
        emit(node('Flatten', [cur], [`${name}.out`], { axis: 1 }, name));
        shape = { kind: 'flat', d: shape.c * shape.h * shape.w };
        lastConv = null;
        break;
      }
      case 'Dense': {
        if (shape.kind !== 'flat') throw new InputError(`tfjs layer '${name}': Dense on a ${shape.c} x ${shape.h} x ${shape.w} map (add GlobalAveragePooling2D or Flatten)`);
        const kernel = values(weights[0]);
        const [D, U] = weights[0].shape;
        if (D !== shape.d) throw new InputError(`tfjs layer '${name}': kernel expects ${D} inputs, got ${shape.d}`);
        const wT = new Float32Array(U * D);
        for (let d = 0; d < D; d++) for (let u = 0; u < U; u++) wT[u * D + d] = kernel[d * U + u];
        inits.push(tensor(`${name}.weight`, [U, D], wT));
        const inputs = [cur, `${name}.weight`];
        if (cfg.useBias) {
          inits.push(tensor(`${name}.bias`, [U], values(weights[1])));
          inputs.push(`${name}.bias`);
        }
        emit(node('Gemm', inputs, [`${name}.out`], { transB: 1 }, name));
        shape = { kind: 'flat', d: U };
        lastConv = null;
        activation(name, cfg.activation as string, false);
        break;
      }
      default:
        throw new InputError(
          `tfjs layer '${name}' (${cls}) cannot be exported; supported: Conv2D, BatchNormalization, ReLU, Activation, GlobalAveragePooling2D, Flatten, Dense, Dropout`,
        );
    }
  }
  if (nodes.length === 0) throw new InputError(`tfjs model '${model.name}': no layers to export`);
  if (shape.kind !== 'flat') throw new InputError(`tfjs model '${model.name}': the output is a map, expected a vector of logits per image`);
  // the last node writes the graph output
  const last = nodes[nodes.length - 1];
  last.output = [outputName];
  const outputShape: [string, number] = [batchDim, shape.d];
  const inputShape: [string, number, number, number] = [batchDim, C0, H0, W0];
  const bytes = buildModel({
    name: options.graphName ?? model.name,
    nodes,
    inputs: [valueInfo(inputName, inputShape)],
    outputs: [valueInfo(outputName, outputShape)],
    initializers: inits,
    opset: options.opset ?? 17,
    producer: 'protolens tfjs-to-onnx',
  });
  return { bytes, inputName, outputName, inputShape, outputShape, featureTensor, ops: nodes.map((n) => n.opType!), foldedBatchNorm: folded };
}
