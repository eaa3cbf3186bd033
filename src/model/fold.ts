/**
 * Folding affine ops into the linear layer. Ops before it act per channel on the pooled vector
 * (y = s * x + t, elementwise); ops after it act per class on the logits. The result is one W, b
 * with logits = W * GAP(x) + b, computed in float64 and stored as float32.
 */
import { InputError } from '../util/errors.ts';

/** One affine step: 'mul' y = x * v, 'add' y = x + v, 'rsub' y = v - x (v scalar or per axis). */
export interface AffineStep {
  kind: 'mul' | 'add' | 'rsub';
  values: Float64Array;
  /** The node it came from, as `Op 'name'`, for messages. */
  source: string;
}

/** A linear layer in the canonical form logits = W x + b, W row-major C x D. */
export interface LinearMap {
  W: Float64Array;
  b: Float64Array;
  C: number;
  D: number;
}

function valueAt(step: AffineStep, i: number, n: number, what: string): number {
  if (step.values.length === 1) return step.values[0];
  if (step.values.length !== n) throw new InputError(`${step.source} has ${step.values.length} values, but the head has ${n} ${what}`);
  return step.values[i];
}

/** Per-channel scale and shift of a chain of affine steps (float64). */
export function composeAffine(steps: readonly AffineStep[], n: number, what: string): { scale: Float64Array; shift: Float64Array } {
  const scale = new Float64Array(n).fill(1);
  const shift = new Float64Array(n);
  for (const st of steps) {
    for (let i = 0; i < n; i++) {
      const v = valueAt(st, i, n, what);
      if (st.kind === 'mul') { scale[i] *= v; shift[i] *= v; }
      else if (st.kind === 'add') shift[i] += v;
      else { scale[i] = -scale[i]; shift[i] = v - shift[i]; }
    }
  }
  return { scale, shift };
}

/** W' = diag(post.scale) W diag(pre.scale), b' = post.scale * (b + W pre.shift) + post.shift. */
export function foldHead(pre: readonly AffineStep[], linear: LinearMap, post: readonly AffineStep[]): { W: Float32Array; b: Float32Array } {
  const { C, D } = linear;
  const a = composeAffine(pre, D, 'feature channels');
  const p = composeAffine(post, C, 'classes');
  const W = new Float32Array(C * D);
  const b = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let bias = linear.b[c];
    for (let d = 0; d < D; d++) {
      const w = linear.W[c * D + d];
      bias += w * a.shift[d];
      W[c * D + d] = p.scale[c] * w * a.scale[d];
    }
    b[c] = p.scale[c] * bias + p.shift[c];
  }
  return { W, b };
}
