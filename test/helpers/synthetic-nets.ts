/**
 * Synthetic classifiers with random weights, deterministic from a seed, built as real ONNX graphs:
 * a small ResNet-like net for tests (conv, BatchNorm, ReLU, residual adds, GAP, linear) and a
 * ResNet-18 with the real torchvision layer shapes (11,689,512 parameters at 1000 classes) for
 * benchmarks. Both use the layout torchvision's ONNX export produces: NCHW input, BatchNormalization
 * nodes after each Conv, GlobalAveragePool, Flatten, Gemm with transB = 1.
 */
import { buildModel, node, tensor, valueInfo, type Dim } from '../../src/onnx/builder.ts';
import type { NodeProto, TensorProto } from '../../src/onnx/proto.ts';
import { Rng } from '../../src/util/random.ts';

/** A generated model and the facts a test needs about it. */
export interface SyntheticNet {
  /** ONNX ModelProto bytes. */
  model: Uint8Array;
  inputName: string;
  /** Graph output with the logits, N x numClasses. */
  logitsName: string;
  /** The tensor global average pooling reads (the final ReLU output), N x D x H x W. */
  featureTensor: string;
  inputShape: Dim[];
  numClasses: number;
  featureDim: number;
  /** Feature map H x W at the model's input size. */
  featureSize: [number, number];
  inputSize: [number, number];
  /** Learnable parameters (conv and linear weights and biases, BatchNorm scale and bias; running statistics excluded). */
  parameters: number;
  seed: number;
}

/** Collects nodes and initializers; every weight drawn from one seeded stream. */
class NetBuilder {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  parameters = 0;
  private counter = 0;
  constructor(readonly rng: Rng) {}

  name(prefix: string): string {
    return `${prefix}${this.counter++}`;
  }

  private param(name: string, dims: number[], draw: () => number, learnable = true): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = draw();
    this.inits.push(tensor(name, dims, data));
    if (learnable) this.parameters += n;
    return name;
  }

  /** Conv with He-normal weights, no bias (BatchNorm follows). */
  conv(x: string, cin: number, cout: number, k: number, stride: number, pad: number, prefix = 'conv'): string {
    const id = this.name(prefix);
    const std = Math.sqrt(2 / (cin * k * k));
    const w = this.param(`${id}.weight`, [cout, cin, k, k], () => std * this.rng.normal());
    const y = `${id}_out`;
    this.nodes.push(node('Conv', [x, w], [y], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] }, id));
    return y;
  }

  /** Inference BatchNormalization with random statistics; gammaScale shrinks the residual branch. */
  bn(x: string, c: number, gammaScale = 1): string {
    const id = this.name('bn');
    const r = this.rng;
    const s = this.param(`${id}.weight`, [c], () => gammaScale * r.uniform(0.8, 1.2));
    const b = this.param(`${id}.bias`, [c], () => r.uniform(-0.1, 0.1));
    const m = this.param(`${id}.running_mean`, [c], () => r.uniform(-0.1, 0.1), false);
    const v = this.param(`${id}.running_var`, [c], () => r.uniform(0.5, 1.5), false);
    const y = `${id}_out`;
    this.nodes.push(node('BatchNormalization', [x, s, b, m, v], [y], { epsilon: 1e-5 }, id));
    return y;
  }

  op(type: string, inputs: string[], attrs: Parameters<typeof node>[3] = {}): string {
    const id = this.name(type.toLowerCase());
    const y = `${id}_out`;
    this.nodes.push(node(type, inputs, [y], attrs, id));
    return y;
  }

  /** torchvision BasicBlock: conv-bn-relu-conv-bn + (identity or 1x1 conv-bn), relu. */
  basicBlock(x: string, cin: number, cout: number, stride: number): string {
    let y = this.op('Relu', [this.bn(this.conv(x, cin, cout, 3, stride, 1), cout)]);
    y = this.bn(this.conv(y, cout, cout, 3, 1, 1), cout, 0.5);
    const shortcut = stride !== 1 || cin !== cout ? this.bn(this.conv(x, cin, cout, 1, stride, 0, 'downsample'), cout) : x;
    return this.op('Relu', [this.op('Add', [y, shortcut])]);
  }

  /** torchvision Bottleneck (v1.5, stride on the 3x3): 1x1-bn-relu, 3x3-bn-relu, 1x1-bn (x 4 width) + shortcut, relu. */
  bottleneck(x: string, cin: number, width: number, stride: number): string {
    const cout = width * 4;
    let y = this.op('Relu', [this.bn(this.conv(x, cin, width, 1, 1, 0), width)]);
    y = this.op('Relu', [this.bn(this.conv(y, width, width, 3, stride, 1), width)]);
    y = this.bn(this.conv(y, width, cout, 1, 1, 0), cout, 0.5);
    const shortcut = stride !== 1 || cin !== cout ? this.bn(this.conv(x, cin, cout, 1, stride, 0, 'downsample'), cout) : x;
    return this.op('Relu', [this.op('Add', [y, shortcut])]);
  }

  /** GAP -> Flatten -> Gemm(transB = 1) to `classes` logits named `logits`. */
  head(x: string, d: number, classes: number, logits: string): void {
    const pooled = this.op('GlobalAveragePool', [x]);
    const flat = this.op('Flatten', [pooled], { axis: 1 });
    const std = 1 / Math.sqrt(d);
    const w = this.param('fc.weight', [classes, d], () => std * this.rng.normal());
    const b = this.param('fc.bias', [classes], () => this.rng.uniform(-0.1, 0.1));
    this.nodes.push(node('Gemm', [flat, w, b], [logits], { transB: 1 }, 'fc'));
  }
}

const convOut = (size: number, k: number, stride: number, pad: number) => Math.floor((size + 2 * pad - k) / stride) + 1;

/** The head on the final map x (c channels, featureSize), the graph with a `logits` output, and its facts. */
function finishNet(b: NetBuilder, name: string, x: string, c: number, classes: number, inputShape: Dim[], featureSize: [number, number], inputSize: [number, number], seed: number): SyntheticNet {
  b.head(x, c, classes, 'logits');
  const model = buildModel({
    name,
    nodes: b.nodes,
    inputs: [valueInfo('input', inputShape)],
    outputs: [valueInfo('logits', [inputShape[0], classes])],
    initializers: b.inits,
  });
  return { model, inputName: 'input', logitsName: 'logits', featureTensor: x, inputShape, numClasses: classes, featureDim: c, featureSize, inputSize, parameters: b.parameters, seed };
}

const batchDim = (batch: number | 'dynamic' | undefined): Dim => (batch === undefined || batch === 'dynamic' ? 'N' : batch);

export interface ResNetLikeOptions {
  /** Weight seed (default 0). */
  seed?: number;
  /** Input size, square S or [H, W] (default 32). */
  inputSize?: number | [number, number];
  /** Input channels (default 3). */
  inChannels?: number;
  /** Stem conv output channels (default 8). */
  stemChannels?: number;
  /** Stem conv stride (default 2). */
  stemStride?: number;
  /** Channels of each stage; every stage after the first halves the map (default [8, 16]). */
  stageChannels?: number[];
  /** BasicBlocks per stage (default 1). */
  blocksPerStage?: number;
  /** Classes (default 10). */
  numClasses?: number;
  /** A fixed batch size, or 'dynamic' (default). */
  batch?: number | 'dynamic';
  /** Declare H and W as symbolic so any size runs (default false: fixed inputSize). */
  dynamicSpatial?: boolean;
}

/**
 * A small ResNet-like classifier: stem conv-bn-relu, stages of BasicBlocks with residual adds,
 * GAP, Flatten, Gemm. Default: 3 x 32 x 32 input, 8 x 8 x 16 feature map, 10 classes.
 */
export function buildResNetLike(opts: ResNetLikeOptions = {}): SyntheticNet {
  const seed = opts.seed ?? 0;
  const [H, W] = typeof opts.inputSize === 'number' ? [opts.inputSize, opts.inputSize] : (opts.inputSize ?? [32, 32]);
  const cin = opts.inChannels ?? 3;
  const stem = opts.stemChannels ?? 8;
  const stemStride = opts.stemStride ?? 2;
  const stages = opts.stageChannels ?? [8, 16];
  const blocks = opts.blocksPerStage ?? 1;
  const classes = opts.numClasses ?? 10;
  const b = new NetBuilder(new Rng(seed));
  let x = b.op('Relu', [b.bn(b.conv('input', cin, stem, 3, stemStride, 1, 'stem'), stem)]);
  let [h, w] = [convOut(H, 3, stemStride, 1), convOut(W, 3, stemStride, 1)];
  let c = stem;
  stages.forEach((cout, s) => {
    for (let i = 0; i < blocks; i++) {
      const stride = s > 0 && i === 0 ? 2 : 1;
      x = b.basicBlock(x, c, cout, stride);
      if (stride === 2) [h, w] = [convOut(h, 3, 2, 1), convOut(w, 3, 2, 1)];
      c = cout;
    }
  });
  const inputShape: Dim[] = [batchDim(opts.batch), cin, opts.dynamicSpatial ? 'H' : H, opts.dynamicSpatial ? 'W' : W];
  return finishNet(b, 'resnet_like', x, c, classes, inputShape, [h, w], [H, W], seed);
}

export interface ResNet18Options {
  seed?: number;
  /** Classes (default 1000). */
  numClasses?: number;
  /** Square input size (default 224). */
  inputSize?: number;
  /** A fixed batch size, or 'dynamic' (default). */
  batch?: number | 'dynamic';
}

/**
 * ResNet-18 with torchvision's layer shapes and random weights: conv 7x7/2 (64), BN, ReLU, max pool
 * 3x3/2, four stages of two BasicBlocks (64, 128, 256, 512), GAP, Flatten, Gemm. At 224 the feature
 * map is 7 x 7 x 512.
 */
export function buildResNet18(opts: ResNet18Options = {}): SyntheticNet {
  return buildResNet(18, opts);
}

/**
 * ResNet-18, -34 or -50 with torchvision's layer shapes and random weights: conv 7x7/2 (64), BN,
 * ReLU, max pool 3x3/2, then stages of [2, 2, 2, 2] (18) or [3, 4, 6, 3] (34) BasicBlocks (64..512
 * channels) or [3, 4, 6, 3] Bottlenecks (50: 256..2048), GAP, Flatten, Gemm. At 224 the feature map
 * is 7 x 7 x 512 (18, 34) or 7 x 7 x 2048 (50).
 */
export function buildResNet(depth: 18 | 34 | 50, opts: ResNet18Options = {}): SyntheticNet {
  const seed = opts.seed ?? 0;
  const size = opts.inputSize ?? 224;
  const classes = opts.numClasses ?? 1000;
  const b = new NetBuilder(new Rng(seed));
  let x = b.op('Relu', [b.bn(b.conv('input', 3, 64, 7, 2, 3, 'conv1_'), 64)]);
  x = b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let s = convOut(convOut(size, 7, 2, 3), 3, 2, 1);
  let c = 64;
  const widths = [64, 128, 256, 512];
  (depth === 18 ? [2, 2, 2, 2] : [3, 4, 6, 3]).forEach((blocks, stage) => {
    for (let i = 0; i < blocks; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      if (depth !== 50) {
        x = b.basicBlock(x, c, widths[stage], stride);
        c = widths[stage];
      } else {
        x = b.bottleneck(x, c, widths[stage], stride);
        c = widths[stage] * 4;
      }
      if (stride === 2) s = convOut(s, 3, 2, 1);
    }
  });
  return finishNet(b, `resnet${depth}`, x, c, classes, [batchDim(opts.batch), 3, size, size], [s, s], [size, size], seed);
}

/**
 * DenseNet-121 with torchvision's layer shapes and random weights: conv 7x7/2 (64), BN, ReLU, max
 * pool 3x3/2, dense blocks of [6, 12, 24, 16] layers (each BN-ReLU-conv 1x1 (128)-BN-ReLU-conv 3x3
 * (32 new channels), concatenated to its input), transitions (BN-ReLU-conv 1x1 halving the channels,
 * average pool 2x2/2), BN, then the head as torchvision's forward and ONNX export give it: ReLU, GAP,
 * Flatten, Gemm. At 224 the feature map is 7 x 7 x 1024 (the final ReLU's output); 7,978,856
 * parameters at 1000 classes.
 */
export function buildDenseNet121(opts: ResNet18Options = {}): SyntheticNet {
  const seed = opts.seed ?? 0;
  const size = opts.inputSize ?? 224;
  const classes = opts.numClasses ?? 1000;
  const growth = 32;
  const b = new NetBuilder(new Rng(seed));
  let x = b.op('Relu', [b.bn(b.conv('input', 3, 64, 7, 2, 3, 'conv0_'), 64)]);
  x = b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let s = convOut(convOut(size, 7, 2, 3), 3, 2, 1);
  let c = 64;
  [6, 12, 24, 16].forEach((layers, block) => {
    for (let i = 0; i < layers; i++) {
      let y = b.conv(b.op('Relu', [b.bn(x, c)]), c, 4 * growth, 1, 1, 0);
      y = b.conv(b.op('Relu', [b.bn(y, 4 * growth)]), 4 * growth, growth, 3, 1, 1);
      x = b.op('Concat', [x, y], { axis: 1 });
      c += growth;
    }
    if (block < 3) {
      x = b.conv(b.op('Relu', [b.bn(x, c)]), c, c / 2, 1, 1, 0, 'transition');
      x = b.op('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
      c /= 2;
      s = Math.floor(s / 2);
    }
  });
  x = b.op('Relu', [b.bn(x, c)]);
  return finishNet(b, 'densenet121', x, c, classes, [batchDim(opts.batch), 3, size, size], [s, s], [size, size], seed);
}
