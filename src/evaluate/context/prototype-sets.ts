/**
 * The prototype sets an evaluation compares side by side, all C x k x D float32 (class-major):
 *
 * - `refined`: the network's prototypes p~ (their sum is the head row, plus the residual term with
 *   allocator `none`): what the network explains with;
 * - `initial`: the NMF prototypes p before scaling and refinement (`initial_prototypes`);
 * - `random`: a random convex split of each head row v: per class and channel, weights w_1..w_k drawn
 *   uniformly on the simplex (Dirichlet(1, ..., 1), as normalised exponentials), r_i = w_i * v
 *   elementwise, so sum_i r_i = v. A baseline with the same exact-sum property and no part structure:
 *   what the refinement is worth shows as the gap between `refined` and `random`.
 */
import type { Network } from '../../network/artifact.ts';
import { InputError } from '../../util/errors.ts';
import { Rng } from '../../util/random.ts';

export type PrototypeSetName = 'refined' | 'initial' | 'random';
export const PROTOTYPE_SET_NAMES: readonly PrototypeSetName[] = ['refined', 'initial', 'random'];

/** What each set is, for reports and tables. */
export const PROTOTYPE_SET_LABELS: Readonly<Record<PrototypeSetName, string>> = {
  refined: 'refined (the network)',
  initial: 'initial (NMF)',
  random: 'random convex split',
};

export interface PrototypeSet {
  name: PrototypeSetName;
  /** C x k x D, row-major. */
  prototypes: Float32Array;
}

/**
 * A random convex split of each row of W (C x D) into k parts: per class c and channel d,
 * w ~ Dirichlet(1, ..., 1) (k normalised Exp(1) draws) and part i = w_i * W[c, d]. Class c draws from
 * `new Rng(seed).fork(c)`, channel by channel, so the split of a class does not depend on the others.
 * Returns C x k x D; the parts of a row sum to it up to float32 rounding (the sum is formed in float64).
 */
export function randomConvexSplit(W: Float32Array, C: number, k: number, D: number, seed: number, counts: Int32Array | null = null): Float32Array {
  if (!Number.isInteger(C) || !Number.isInteger(k) || !Number.isInteger(D) || C < 1 || k < 1 || D < 1) {
    throw new InputError(`random split: C, k, D must be positive integers, got ${C}, ${k}, ${D}`);
  }
  if (W.length !== C * D) throw new InputError(`random split: head has ${W.length} values, C x D = ${C} x ${D} expected`);
  if (!Number.isInteger(seed)) throw new InputError(`random split: seed must be an integer, got ${seed}`);
  const out = new Float32Array(C * k * D);
  const e = new Float64Array(k);
  for (let c = 0; c < C; c++) {
    const rng = new Rng(seed).fork(c);
    // With per-class counts (k 'auto'), class c is split into its own count; the other rows stay zero.
    const kc = counts?.[c] ?? k;
    for (let d = 0; d < D; d++) {
      let sum = 0;
      for (let i = 0; i < kc; i++) {
        let u = 0;
        while (u === 0) u = rng.next();
        e[i] = -Math.log(u);
        sum += e[i];
      }
      const v = W[c * D + d];
      for (let i = 0; i < kc; i++) out[(c * k + i) * D + d] = (e[i] / sum) * v;
    }
  }
  return out;
}

/** The sets asked for, from a loaded network; `randomSeed` seeds the random split. */
export function prototypeSets(net: Pick<Network, 'prototypes' | 'initialPrototypes' | 'headWeight' | 'numClasses' | 'k' | 'channels'> & { prototypeCounts?: Int32Array }, names: readonly PrototypeSetName[], randomSeed: number): PrototypeSet[] {
  const seen = new Set<string>();
  return names.map((name) => {
    if (!PROTOTYPE_SET_NAMES.includes(name)) throw new InputError(`prototype set '${String(name)}': expected one of ${PROTOTYPE_SET_NAMES.join(', ')}`);
    if (seen.has(name)) throw new InputError(`prototype set '${name}' is listed twice`);
    seen.add(name);
    if (name === 'refined') return { name, prototypes: net.prototypes };
    if (name === 'initial') return { name, prototypes: net.initialPrototypes };
    return { name, prototypes: randomConvexSplit(net.headWeight, net.numClasses, net.k, net.channels, randomSeed, net.prototypeCounts ?? null) };
  });
}
