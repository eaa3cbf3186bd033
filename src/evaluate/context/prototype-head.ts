/**
 * The prototype network's head as one onnxruntime graph, fed with the classifier's features
 * (n x HW x D, position-major):
 *
 *   contributions [n, C, k]  mean over positions of x p~_ci^T   (computed as mean(x) p~_ci^T)
 *   residual      [n, C]     mean over positions of x r_c^T     (zero unless allocator `none`)
 *   logits        [n, C]     sum_i contributions + residual + b (the prototype network's logits)
 *   maps_<set>    [n, k, HW] x p_(classes[j], i)^T for image j and each prototype set
 *   max_<set>, argmax_<set>  [n, C k]  over positions, the largest x p_ci^T of every prototype of
 *                 every class and where it is (first maximum; purity's top images)
 *
 * The logits are rebuilt from the prototypes, not from the head's W, so comparing them with the
 * black box's own logits checks the decomposition. One graph serves every set's maps, so a single
 * feature extraction scores the refined, initial and random prototypes.
 */
import * as ort from 'onnxruntime-node';
import { buildModel, int64Tensor, node, tensor, valueInfo } from '../../onnx/builder.ts';
import { DataType } from '../../onnx/proto.ts';
import { InputError } from '../../util/errors.ts';
import type { PrototypeSet, PrototypeSetName } from './prototype-sets.ts';

export interface PrototypeHeadSpec {
  numClasses: number;
  k: number;
  /** Feature channels D. */
  channels: number;
  /** Positions per feature map (H x W). */
  positions: number;
  /** Sets whose maps the graph computes; the first named `refined` also gives the contributions. */
  sets: readonly PrototypeSet[];
  /** C x D residual term. */
  residualTerm: Float32Array;
  /** C biases. */
  bias: Float32Array;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
}

/** The prototype network's numbers for a batch. */
export interface Decomposed {
  /** n x C x k. */
  contributions: Float32Array;
  /** n x C. */
  residual: Float32Array;
  /** n x C: contributions summed + residual + bias. */
  logits: Float32Array;
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** The graph and session; create once, run per batch, `release()` at the end. */
export class PrototypeHead {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly numClasses: number,
    readonly k: number,
    readonly channels: number,
    readonly positions: number,
    readonly setNames: readonly PrototypeSetName[],
  ) {}

  static async create(spec: PrototypeHeadSpec): Promise<PrototypeHead> {
    const { numClasses: C, k, channels: D, positions: HW } = spec;
    const refined = spec.sets.find((s) => s.name === 'refined');
    if (!refined) throw new InputError("prototype head: the 'refined' set is required (it gives the contributions)");
    for (const s of spec.sets) {
      if (s.prototypes.length !== C * k * D) throw new InputError(`prototype set '${s.name}': ${s.prototypes.length} values, C x k x D = ${C} x ${k} x ${D} expected`);
    }
    if (spec.residualTerm.length !== C * D) throw new InputError(`residual term: ${spec.residualTerm.length} values, C x D = ${C} x ${D} expected`);
    if (spec.bias.length !== C) throw new InputError(`bias: ${spec.bias.length} values, ${C} expected`);
    const nodes = [
      node('ReduceMean', ['features'], ['pooled'], { axes: [1], keepdims: 0 }),
      node('MatMul', ['pooled', 'Pt'], ['contrib_flat']),
      node('Reshape', ['contrib_flat', 'contrib_shape'], ['contributions']),
      node('MatMul', ['pooled', 'Rt'], ['residual']),
      node('ReduceSum', ['contributions', 'sum_axes'], ['proto_sum'], { keepdims: 0 }),
      node('Add', ['proto_sum', 'residual'], ['pre_bias']),
      node('Add', ['pre_bias', 'b'], ['logits']),
    ];
    const initializers = [
      tensor('Pt', [D, C * k], transpose(refined.prototypes, C * k, D)),
      tensor('Rt', [D, C], transpose(spec.residualTerm, C, D)),
      tensor('b', [C], spec.bias),
      int64Tensor('contrib_shape', [-1, C, k]),
      int64Tensor('sum_axes', [2]),
    ];
    const outputs = [valueInfo('contributions', ['n', C, k]), valueInfo('residual', ['n', C]), valueInfo('logits', ['n', C])];
    for (const s of spec.sets) {
      const P = `P_${s.name}`;
      initializers.push(tensor(P, [C, k, D], s.prototypes));
      nodes.push(
        node('Gather', [P, 'classes'], [`G_${s.name}`], { axis: 0 }),
        node('Transpose', [`G_${s.name}`], [`Gt_${s.name}`], { perm: [0, 2, 1] }),
        node('MatMul', ['features', `Gt_${s.name}`], [`M_${s.name}`]),
        node('Transpose', [`M_${s.name}`], [`maps_${s.name}`], { perm: [0, 2, 1] }),
      );
      outputs.push(valueInfo(`maps_${s.name}`, ['n', k, HW]));
      // Every prototype at once: n x HW x Ck, then the maximum over positions and its position.
      initializers.push(tensor(`All_${s.name}`, [D, C * k], transpose(s.prototypes, C * k, D)));
      nodes.push(
        node('MatMul', ['features', `All_${s.name}`], [`A_${s.name}`]),
        node('ReduceMax', [`A_${s.name}`], [`max_${s.name}`], { axes: [1], keepdims: 0 }),
        node('ArgMax', [`A_${s.name}`], [`argmax_${s.name}`], { axis: 1, keepdims: 0, select_last_index: 0 }),
      );
      outputs.push(valueInfo(`max_${s.name}`, ['n', C * k]), valueInfo(`argmax_${s.name}`, ['n', C * k], DataType.INT64));
    }
    const model = buildModel({
      name: 'protolens_prototype_head',
      nodes,
      inputs: [valueInfo('features', ['n', HW, D]), valueInfo('classes', ['n'], DataType.INT64)],
      outputs,
      initializers,
    });
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      logSeverityLevel: 3,
      ...(spec.threads !== undefined ? { intraOpNumThreads: spec.threads } : {}),
    });
    return new PrototypeHead(session, C, k, D, HW, spec.sets.map((s) => s.name));
  }

  private feeds(features: Float32Array, n: number, classes?: ArrayLike<number>): Record<string, ort.Tensor> {
    const { positions: HW, channels: D, numClasses: C } = this;
    if (!Number.isInteger(n) || n < 1) throw new InputError(`prototype head: batch size must be a positive integer, got ${n}`);
    if (features.length !== n * HW * D) throw new InputError(`prototype head: features have ${features.length} values, n x HW x D = ${n} x ${HW} x ${D} expected`);
    const cls = new BigInt64Array(n);
    if (classes) {
      if (classes.length !== n) throw new InputError(`prototype head: ${classes.length} classes for ${n} images`);
      for (let i = 0; i < n; i++) {
        const c = classes[i];
        if (!Number.isInteger(c) || c < 0 || c >= C) throw new InputError(`prototype head: class ${c} of image ${i} outside 0..${C - 1}`);
        cls[i] = BigInt(c);
      }
    }
    return { features: new ort.Tensor('float32', features, [n, HW, D]), classes: new ort.Tensor('int64', cls, [n]) };
  }

  /** Contributions, residual contributions and the prototype network's logits of n images. */
  async decompose(features: Float32Array, n: number): Promise<Decomposed> {
    const out = await this.session.run(this.feeds(features, n), ['contributions', 'residual', 'logits']);
    return {
      contributions: out.contributions.data as Float32Array,
      residual: out.residual.data as Float32Array,
      logits: out.logits.data as Float32Array,
    };
  }

  /** Maps (n x k x HW each) of the prototypes of class classes[j] for image j, for the sets asked (default all). */
  async maps(features: Float32Array, n: number, classes: ArrayLike<number>, sets: readonly PrototypeSetName[] = this.setNames): Promise<Map<PrototypeSetName, Float32Array>> {
    for (const s of sets) if (!this.setNames.includes(s)) throw new InputError(`prototype head: no set '${s}' (has ${this.setNames.join(', ')})`);
    const out = await this.session.run(this.feeds(features, n, classes), sets.map((s) => `maps_${s}`));
    return new Map(sets.map((s) => [s, out[`maps_${s}`].data as Float32Array]));
  }

  /**
   * For every prototype of every class (index c k + i), its largest map value over the positions of
   * each image and the first position holding it: n x C k each, per set asked.
   */
  async globalMax(features: Float32Array, n: number, sets: readonly PrototypeSetName[] = this.setNames): Promise<Map<PrototypeSetName, { max: Float32Array; argmax: BigInt64Array }>> {
    for (const s of sets) if (!this.setNames.includes(s)) throw new InputError(`prototype head: no set '${s}' (has ${this.setNames.join(', ')})`);
    const out = await this.session.run(this.feeds(features, n), sets.flatMap((s) => [`max_${s}`, `argmax_${s}`]));
    return new Map(sets.map((s) => [s, { max: out[`max_${s}`].data as Float32Array, argmax: out[`argmax_${s}`].data as BigInt64Array }]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
