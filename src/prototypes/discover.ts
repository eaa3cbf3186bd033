/**
 * Prototype discovery (method.md section 3): NMF of one class's stacked features F (N x D),
 * F ~ E P with E, P >= 0; the k rows of P are the initial prototypes. Features with negative values
 * are shifted per channel for the factorisation only (by the solver, which records the shift and
 * warns); heatmaps always use the real F.
 */
import { nmf } from '../linalg/nmf/nmf.ts';
import type { ResolvedOptions } from './options.ts';
import { maxAbs, scaled32, unitScale } from './power-of-two.ts';

export interface Discovery {
  /** k x D initial prototypes (non-negative). */
  P: Float32Array;
  /** ||F - E P||_F / ||F||_F as reported by the solver. */
  relError: number;
  iterations: number;
  /** True when the solver's tolerance stopped it (false: its iteration cap did). */
  converged: boolean;
  /** Per-channel shift applied before factorising, when F had negative values. */
  shift: Float32Array | null;
  warnings: string[];
  seed: number;
  solver: string;
}

/** Features whose largest magnitude lies outside [2^-16, 2^16] are factorised at unit scale. */
const SAFE_EXPONENT = 16;

/**
 * Run NMF on F (N x D) with the resolved options (always single-threaded: classes run in parallel
 * instead). Features of extreme magnitude are brought to unit scale by a power of two first (NMF is
 * scale-equivariant, so P is scaled back exactly); others are factorised as given.
 */
export async function discoverPrototypes(F: Float32Array, N: number, D: number, opts: ResolvedOptions): Promise<Discovery> {
  const m = maxAbs(F);
  const s = m > 0 && Math.abs(Math.log2(m)) > SAFE_EXPONENT ? unitScale(m) : 1;
  const r = await nmf(s === 1 ? F : scaled32(F, s), N, D, {
    k: opts.k,
    solver: opts.nmf.solver,
    seed: opts.seed,
    init: opts.nmf.init,
    threads: 1,
    ...(opts.nmf.maxIter !== null ? { maxIter: opts.nmf.maxIter } : {}),
    ...(opts.nmf.tol !== null ? { tol: opts.nmf.tol } : {}),
  });
  return {
    P: s === 1 ? r.P : scaled32(r.P, 1 / s),
    relError: r.relError,
    iterations: r.iterations,
    converged: r.converged,
    shift: r.shift ? (s === 1 ? r.shift : scaled32(r.shift, 1 / s)) : null,
    warnings: [...r.warnings],
    seed: r.seed,
    solver: r.solver,
  };
}
