/**
 * Symbolic shapes of the pooled feature vector on its way through the head: each axis is the batch
 * ('N'), the feature channels ('D'), the classes ('C') or a singleton (1). Shape ops (Flatten,
 * Reshape, Squeeze, Unsqueeze, Transpose) are followed exactly, so per-channel constants and the
 * linear layer can be checked against the axis they really act on.
 */

export type Sym = 'N' | 'D' | 'C' | 1;
export type SymShape = Sym[];

/** A shape-op step that does not fit the pooled vector; the message says why. */
export class ShapeStepError extends Error {}

/** A fixed size required of a symbol by a Reshape target (checked once D and C are known). */
export interface SizeRequirement {
  sym: 'N' | 'D' | 'C';
  size: number;
  node: string;
}

export function formatShape(s: SymShape): string {
  return s.length ? s.map(String).join(' x ') : 'scalar';
}

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new ShapeStepError(`${what} ${axis} is out of range for a rank-${rank} tensor`);
  return a;
}

function merge(group: SymShape, what: string): Sym {
  const big = group.filter((s) => s !== 1);
  if (big.length > 1) throw new ShapeStepError(`${what} merges axes ${big.join(' and ')} into one`);
  return big[0] ?? 1;
}

export function flatten(s: SymShape, axis: number): SymShape {
  const a = axis < 0 ? axis + s.length : axis;
  if (a < 0 || a > s.length) throw new ShapeStepError(`axis ${axis} is out of range for ${formatShape(s)}`);
  return [merge(s.slice(0, a), `axis ${axis}`), merge(s.slice(a), `axis ${axis}`)];
}

export function squeeze(s: SymShape, axes: number[] | undefined): SymShape {
  if (!axes || axes.length === 0) return s.filter((x) => x !== 1);
  const drop = new Set(axes.map((a) => normAxis(a, s.length, 'axis')));
  for (const a of drop) if (s[a] !== 1) throw new ShapeStepError(`it squeezes axis ${a}, which holds ${s[a]} (shape ${formatShape(s)})`);
  return s.filter((_, i) => !drop.has(i));
}

export function unsqueeze(s: SymShape, axes: number[]): SymShape {
  const rank = s.length + axes.length;
  const ins = new Set(axes.map((a) => normAxis(a, rank, 'axis')));
  const out: SymShape = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(ins.has(i) ? 1 : s[j++]);
  return out;
}

export function transpose(s: SymShape, perm: number[] | undefined): SymShape {
  const p = perm ?? s.map((_, i) => s.length - 1 - i);
  if (p.length !== s.length) throw new ShapeStepError(`perm [${p.join(', ')}] does not match rank ${s.length}`);
  return p.map((i) => s[normAxis(i, s.length, 'perm entry')]);
}

/**
 * Reshape to a target of sizes (0 copies, -1 infers) or symbols (from a Shape op on the tracked
 * tensor, as `x.view(x.size(0), -1)` exports). The non-singleton axes keep their order; a target entry 1 where the
 * batch was (e.g. [1, -1]) fixes the batch to 1. Returns the new shape, whether the batch became 1,
 * and sizes the target requires of N, D or C.
 */
export function reshape(s: SymShape, target: readonly (number | Sym)[], node: string): { shape: SymShape; batchToOne: boolean; requires: SizeRequirement[] } {
  const resolved: (Sym | number)[] = target.map((v, i) => {
    if (typeof v === 'string') return v;
    if (v === 0) {
      if (i >= s.length) throw new ShapeStepError(`target entry ${i} copies a dimension the input (${formatShape(s)}) does not have`);
      return s[i];
    }
    return v;
  });
  let syms = s.filter((x) => x !== 1) as ('N' | 'D' | 'C')[];
  const slots = resolved.map((v, i) => ({ v, i })).filter(({ v }) => v !== 1);
  let batchToOne = false;
  if (slots.length === syms.length - 1 && syms[0] === 'N') {
    batchToOne = true;
    syms = syms.slice(1);
  }
  if (slots.length !== syms.length) throw new ShapeStepError(`target [${target.join(', ')}] does not keep the axes ${formatShape(s)} apart`);
  const out: SymShape = resolved.map(() => 1 as const);
  const requires: SizeRequirement[] = [];
  slots.forEach(({ v, i }, k) => {
    const sym = syms[k];
    if (typeof v === 'string' && v !== sym) throw new ShapeStepError(`target [${target.join(', ')}] moves axis ${sym}`);
    if (typeof v === 'number' && v > 1) requires.push({ sym, size: v, node });
    else if (typeof v === 'number' && v !== -1) throw new ShapeStepError(`target entry ${v} is not a valid size`);
    out[i] = sym;
  });
  return { shape: out, batchToOne, requires };
}

/**
 * How a constant of dims `dims` broadcasts against the tracked shape: 'scalar' (one value),
 * or along `axis` ('D' before the linear layer, 'C' after) with `length` values. Any other
 * broadcast (over the batch, or growing a singleton axis) throws.
 */
export function constantBroadcast(s: SymShape, dims: number[], axis: 'D' | 'C'): { kind: 'scalar' | 'per-axis'; length: number; shape: SymShape } {
  let shape = s;
  if (dims.length > s.length) {
    const extra = dims.slice(0, dims.length - s.length);
    if (extra.some((d) => d !== 1)) throw new ShapeStepError(`a constant of shape [${dims.join(', ')}] adds non-singleton axes to ${formatShape(s)}`);
    shape = [...extra.map(() => 1 as const), ...s];
  }
  const offset = shape.length - dims.length;
  let length = 1;
  let kind: 'scalar' | 'per-axis' = 'scalar';
  dims.forEach((d, i) => {
    if (d === 1) return;
    const sym = shape[offset + i];
    if (sym !== axis) throw new ShapeStepError(`a constant of shape [${dims.join(', ')}] varies along axis ${offset + i} (${sym}) of ${formatShape(shape)}; only scalars or per-${axis === 'D' ? 'channel' : 'class'} values fold into the head`);
    kind = 'per-axis';
    length = d;
  });
  return { kind, length, shape };
}
