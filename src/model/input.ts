/**
 * The classifier's image input: its name, declared shape, layout (NCHW or NHWC), channel count,
 * batch (fixed or dynamic) and the spatial size protolens runs it at.
 */
import { DataType } from '../onnx/proto.ts';
import { InputError } from '../util/errors.ts';
import { GraphIndex, intsAttr, numAttr, type DeclaredDim } from './graph.ts';
import { dataTypeName } from './tensor-data.ts';

export type ModelInputLayout = 'NCHW' | 'NHWC';

/** Spatial size used for models whose input size is dynamic when no inputSize is given. */
export const DEFAULT_MODEL_INPUT_SIZE = 224;

export interface ModelInput {
  name: string;
  /** Declared shape: numbers, symbolic names, or null for unknown dimensions. */
  shape: DeclaredDim[];
  layout: ModelInputLayout;
  /** How the layout was decided. */
  layoutSource: 'option' | 'shape' | 'graph' | 'default';
  channels: number;
  /** The size protolens runs the model at. */
  height: number;
  width: number;
  /** Where height and width came from: the model's fixed shape, the inputSize option, or DEFAULT_MODEL_INPUT_SIZE. */
  sizeSource: 'model' | 'option' | 'default';
  /** The declared fixed size [H, W] when both are fixed, else null. */
  fixedSize: [number, number] | null;
  /** Fixed batch size, or null when the batch dimension is dynamic. */
  batch: number | null;
}

export interface ModelInputOptions {
  /** Square size S or [H, W]; required to match a fixed-size model, used for dynamic ones. */
  inputSize?: number | [number, number];
  /** Override the layout guess. */
  inputLayout?: ModelInputLayout;
}

/** Normalise an inputSize option to [H, W], rejecting non-positive or non-integer values. */
export function parseModelInputSize(size: number | [number, number]): [number, number] {
  if (!(typeof size === 'number' || (Array.isArray(size) && size.length === 2))) throw new InputError(`inputSize: expected a number or [H, W], got ${JSON.stringify(size)}`);
  const hw: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  if (hw.some((v) => !Number.isInteger(v) || v < 1)) throw new InputError(`inputSize: expected positive integers, got ${JSON.stringify(size)}`);
  return hw;
}

function small(d: DeclaredDim): boolean {
  return typeof d === 'number' && d <= 4;
}

function decideLayout(g: GraphIndex, name: string, shape: DeclaredDim[]): { layout: ModelInputLayout; source: ModelInput['layoutSource'] } {
  const consumers = g.consumersOf(name);
  const t = consumers.find((c) => c.opType === 'Transpose');
  const perm = t ? intsAttr(t, 'perm') : undefined;
  if (perm && perm.join(',') === '0,3,1,2') return { layout: 'NHWC', source: 'graph' };
  if (small(shape[1]) && !small(shape[3])) return { layout: 'NCHW', source: 'shape' };
  if (small(shape[3]) && !small(shape[1])) return { layout: 'NHWC', source: 'shape' };
  if (consumers.some((c) => c.opType === 'Conv')) return { layout: 'NCHW', source: 'graph' };
  return { layout: 'NCHW', source: 'default' };
}

/** Analyse the model's single image input and decide the run size. */
export function resolveModelInput(g: GraphIndex, modelPath: string, opts: ModelInputOptions = {}): ModelInput {
  if (g.inputs.length !== 1) {
    throw new InputError(`model '${modelPath}' has ${g.inputs.length} inputs (${g.inputs.map((i) => `'${i.name}'`).join(', ')}); protolens expects exactly one image input`);
  }
  const vi = g.inputs[0];
  const name = vi.name ?? '';
  const tt = vi.type?.tensorType;
  if (!tt) throw new InputError(`model '${modelPath}': input '${name}' is not a tensor`);
  if (tt.elemType !== DataType.FLOAT) throw new InputError(`model '${modelPath}': input '${name}' has element type ${dataTypeName(tt.elemType)}; protolens feeds float32 images`);
  const shape: DeclaredDim[] = g.declaredShape(name) ?? [null, null, null, null];
  if (shape.length !== 4) throw new InputError(`model '${modelPath}': input '${name}' has rank ${shape.length} ([${shape.map((d) => d ?? '?').join(', ')}]); expected an image batch N x C x H x W or N x H x W x C`);
  const decided = opts.inputLayout ? { layout: opts.inputLayout, source: 'option' as const } : decideLayout(g, name, shape);
  const layout = decided.layout;
  const [cAxis, hAxis, wAxis] = layout === 'NCHW' ? [1, 2, 3] : [3, 1, 2];
  let channels = shape[cAxis];
  if (typeof channels !== 'number') {
    const conv = g.consumersOf(name).find((c) => c.opType === 'Conv');
    const w = conv?.input?.[1] ? g.constant(conv.input[1]) : null;
    if (!conv || !w || layout !== 'NCHW') throw new InputError(`model '${modelPath}': input '${name}' does not declare its channel count and no first Conv tells it`);
    channels = w.dims[1] * numAttr(conv, 'group', 1);
  }
  const fh = shape[hAxis], fw = shape[wAxis];
  const fixedSize: [number, number] | null = typeof fh === 'number' && typeof fw === 'number' ? [fh, fw] : null;
  let size: [number, number];
  let sizeSource: ModelInput['sizeSource'];
  const fmt = (hw: readonly DeclaredDim[]) => hw.map((d) => d ?? '?').join(' x ');
  if (opts.inputSize !== undefined) {
    size = parseModelInputSize(opts.inputSize);
    if ((typeof fh === 'number' && fh !== size[0]) || (typeof fw === 'number' && fw !== size[1])) {
      throw new InputError(`model '${modelPath}': input '${name}' has a fixed size of ${fmt([fh, fw])}, so it cannot run at ${size[0]} x ${size[1]}; sizes that work: ${fmt([fh, fw])}`);
    }
    sizeSource = typeof fh === 'number' && typeof fw === 'number' ? 'model' : 'option';
  } else {
    size = [typeof fh === 'number' ? fh : DEFAULT_MODEL_INPUT_SIZE, typeof fw === 'number' ? fw : DEFAULT_MODEL_INPUT_SIZE];
    sizeSource = typeof fh === 'number' && typeof fw === 'number' ? 'model' : 'default';
  }
  const batch = typeof shape[0] === 'number' ? shape[0] : null;
  return { name, shape, layout, layoutSource: decided.source, channels, height: size[0], width: size[1], sizeSource, fixedSize, batch };
}
