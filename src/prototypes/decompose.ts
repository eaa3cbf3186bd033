/**
 * The per-class step of the method: discover k part-prototypes by NMF on the class's features and
 * rewrite the class's head vector exactly as their refined sum. One call per class; see
 * parallel.ts for many classes on worker threads.
 */
import { InputError } from '../util/errors.ts';
import { Rng } from '../util/random.ts';
import { chooseK, type KSelection } from './choose-k.ts';
import { discoverPrototypes } from './discover.ts';
import { resolveOptions, type DecomposeOptions, type ResolvedOptions } from './options.ts';
import { refinePrototypes } from './refine.ts';

/**
 * One class's input. F: n·hw x d float32, row-major; image j owns rows j·hw .. (j+1)·hw - 1
 * (its feature map, position-major). v: the class's head vector (d).
 */
export interface ClassInput {
  F: Float32Array;
  n: number;
  hw: number;
  d: number;
  v: Float32Array;
  /** The class's row in the head; named in messages and recorded in the result. */
  classIndex?: number;
  /** A readable class name for messages. */
  className?: string;
}

/** Diagnostics of one class's decomposition. */
export interface DecompositionDiagnostics {
  /** ||F - E P|| / ||F|| of the NMF. */
  nmfRelError: number;
  nmfIterations: number;
  /** Whether the NMF met its tolerance before its iteration cap. */
  nmfConverged: boolean;
  nmfSolver: string;
  /** Per-channel shift applied to F for the NMF only (null when F was non-negative). */
  nmfShift: Float32Array | null;
  /** ||R|| / ||v||. */
  residualRatio: number;
  /** Split objective (the chosen objective) of the uniform split R/k. */
  objectiveUniform: number;
  /** Split objective of the chosen split. */
  objectiveChosen: number;
  /** objectiveChosen / objectiveUniform (1 when both are 0). */
  objectiveRatio: number;
  /** Per prototype: mean over images of cos(Norm(F p_i), Norm(F p~_i)), maps centred per image for norm `image-centred`. */
  partFidelity: Float64Array;
  meanPartFidelity: number;
  /** Part fidelity of the uniform split alpha_i p_i + R/k, the baseline (k values). */
  partFidelityUniform: Float64Array;
  /** Per prototype: fraction of the class's images where the refined map peaks where the NMF map does. */
  peakAgreement: Float64Array;
  /** The same for the uniform split. */
  peakAgreementUniform: Float64Array;
  /** max |sum_i p~_i - v| (float64 sum of the stored float32 values), its tolerance, and the float32-sum error. */
  exactness: { maxAbsError: number; tolerance: number; maxAbsErrorFloat32: number };
  allocatorEvaluations: number;
  allocatorIterations: number;
  /** Why the allocator's optimiser stopped (`fixed`: no optimiser; `tolerance`, `maxIterations`, ...). */
  allocatorStop: string;
  /** Images used (after maxImages). */
  imagesUsed: number;
  /**
   * Prototypes whose refined part fidelity fell below `threshold` (indices and their fidelity, from the
   * refinement before any fallback), and the fallback applied to the class (null: reported only).
   */
  lowFidelity: { threshold: number; prototypes: number[]; partFidelity: number[]; fallback: 'residual-term' | null };
  /** `k: 'auto'`: the NMF error curve, the part gains and the chosen k (null: k was fixed). */
  kSelection: KSelection | null;
  warnings: string[];
}

/** The decomposition of one class's head vector into k refined part-prototypes. */
export interface ClassDecomposition {
  classIndex: number | null;
  className: string | null;
  k: number;
  d: number;
  /** Initial (NMF) prototypes p_i, k x d, non-negative. */
  initialPrototypes: Float32Array;
  /** Scaling coefficients alpha_i (k). */
  alpha: Float64Array;
  /** Residual R = v - sum_i alpha_i p_i (d, float64). */
  residual: Float64Array;
  /**
   * Refined prototypes p~_i (k x d, float32) with sum_i p~_i = v. With allocator `none` they are
   * alpha_i p_i and sum_i p~_i + residualTerm = v.
   */
  prototypes: Float32Array;
  /** Allocator `none` only: the stored residual term; otherwise null. */
  residualTerm: Float32Array | null;
  diagnostics: DecompositionDiagnostics;
  /** Wall-clock seconds (not part of the deterministic result). */
  timing: { nmf: number; refine: number; total: number };
  options: ResolvedOptions;
  seed: number;
}

/** How a class is named in messages. */
export function classLabel(input: { classIndex?: number; className?: string }): string {
  const idx = input.classIndex ?? null;
  if (idx === null) return input.className ? `class '${input.className}'` : 'class';
  return input.className ? `class ${idx} ('${input.className}')` : `class ${idx}`;
}

function checkInput(input: ClassInput, k: number, label: string): void {
  const { F, n, hw, d, v } = input;
  for (const [name, value] of [['n', n], ['hw', hw], ['d', d]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new InputError(`${label}: ${name} must be a positive integer, got ${value}`);
  }
  if (!(F instanceof Float32Array)) throw new InputError(`${label}: features F must be a Float32Array`);
  if (!(v instanceof Float32Array)) throw new InputError(`${label}: head vector v must be a Float32Array`);
  if (F.length !== n * hw * d) throw new InputError(`${label}: features F have ${F.length} values, expected n x hw x d = ${n} x ${hw} x ${d} = ${n * hw * d}`);
  if (v.length !== d) throw new InputError(`${label}: head vector v has ${v.length} values, expected d = ${d}`);
  if (k > d || k > n * hw) throw new InputError(`${label}: option k = ${k} exceeds the ${d} channels or the ${n * hw} feature rows`);
  for (let c = 0; c < d; c++) if (!Number.isFinite(v[c])) throw new InputError(`${label}: head vector v[${c}] is ${v[c]}, expected a finite number`);
  for (let x = 0; x < F.length; x++) {
    if (!Number.isFinite(F[x])) {
      const row = Math.floor(x / d);
      throw new InputError(`${label}: features F[image ${Math.floor(row / hw)}, position ${row % hw}, channel ${x % d}] is ${F[x]}, expected a finite number`);
    }
  }
}

/** A seeded subset of `max` of the n images (kept in their original order), copied out of F. */
function subsetImages(F: Float32Array, n: number, rowsPerImage: number, max: number, seed: number): { F: Float32Array; n: number } {
  if (n <= max) return { F, n };
  const order = new Rng(seed).fork(0x1a9e5).shuffle(Array.from({ length: n }, (_, j) => j));
  const keep = order.slice(0, max).sort((a, b) => a - b);
  const out = new Float32Array(max * rowsPerImage);
  keep.forEach((j, t) => out.set(F.subarray(j * rowsPerImage, (j + 1) * rowsPerImage), t * rowsPerImage));
  return { F: out, n: max };
}

/**
 * Decompose one class: NMF discovery, scaling, residual split, exact storage, diagnostics.
 * Throws InputError for malformed input and CheckError (naming the class) if the stored prototypes
 * do not rebuild v to 1e-6 x max |v|.
 */
export async function decomposeClass(input: ClassInput, options: DecomposeOptions = {}): Promise<ClassDecomposition> {
  const t0 = performance.now();
  const resolved = resolveOptions(options);
  const label = classLabel(input);
  checkInput(input, resolved.k, label);
  const { hw, d } = input;
  const { F, n } = resolved.maxImages !== null ? subsetImages(input.F, input.n, hw * d, resolved.maxImages, resolved.seed) : input;
  if (resolved.k > n * hw) throw new InputError(`${label}: option ${resolved.kAuto ? 'kMax' : 'k'} = ${resolved.k} exceeds the ${n * hw} feature rows of the images used`);

  // k: 'auto' picks this class's k from its NMF error curve; the rest runs with that k.
  const auto = resolved.kAuto ? await chooseK(F, n * hw, d, resolved, resolved.k, resolved.kAuto) : null;
  const opts = auto ? { ...resolved, k: auto.selection.k } : resolved;
  const found = auto ? auto.found : await discoverPrototypes(F, n * hw, d, opts);
  const t1 = performance.now();
  let refined = await refinePrototypes({ F, n, hw, d, v: input.v }, found.P, opts, label);
  // A prototype whose refined map left its part (fidelity below the threshold, NaN included) is never
  // shipped silently: reported, or the class falls back to an explicit residual term.
  const firstFidelity = Array.from(refined.partFidelity);
  const low = firstFidelity.flatMap((f, i) => (f >= opts.minPartFidelity ? [] : [i]));
  const fallback = low.length > 0 && opts.lowFidelity === 'residual-term' && opts.allocator !== 'none';
  if (fallback) refined = await refinePrototypes({ F, n, hw, d, v: input.v }, found.P, { ...opts, allocator: 'none' }, label);
  const lowWarnings = low.map(
    (i) =>
      `${label}: prototype ${i} has part fidelity ${firstFidelity[i].toFixed(3)} < ${opts.minPartFidelity}: its refined heatmap no longer follows its NMF part` +
      (fallback ? '; the class falls back to an explicit residual term (allocator none)' : opts.allocator === 'none' ? '' : " (option lowFidelity 'residual-term' / --low-fidelity residual-term makes the class keep its NMF parts)"),
  );
  const t2 = performance.now();

  const fid = refined.partFidelity;
  const meanPartFidelity = fid.reduce((a, b) => a + b, 0) / fid.length;
  const { objectiveUniform: u, objectiveChosen: c } = refined;
  return {
    classIndex: input.classIndex ?? null,
    className: input.className ?? null,
    k: opts.k,
    d,
    initialPrototypes: found.P,
    alpha: refined.alpha,
    residual: refined.residual,
    prototypes: refined.prototypes,
    residualTerm: refined.residualTerm,
    diagnostics: {
      nmfRelError: found.relError,
      nmfIterations: found.iterations,
      nmfConverged: found.converged,
      nmfSolver: found.solver,
      nmfShift: found.shift,
      residualRatio: refined.residualRatio,
      objectiveUniform: u,
      objectiveChosen: c,
      objectiveRatio: u === 0 ? (c === 0 ? 1 : Infinity) : c / u,
      partFidelity: fid,
      meanPartFidelity,
      partFidelityUniform: refined.partFidelityUniform,
      peakAgreement: refined.peakAgreement,
      peakAgreementUniform: refined.peakAgreementUniform,
      exactness: refined.exactness,
      allocatorEvaluations: refined.allocatorEvaluations,
      allocatorIterations: refined.allocatorIterations,
      allocatorStop: refined.allocatorStop,
      imagesUsed: n,
      lowFidelity: { threshold: opts.minPartFidelity, prototypes: low, partFidelity: low.map((i) => firstFidelity[i]), fallback: fallback ? 'residual-term' : null },
      kSelection: auto ? auto.selection : null,
      warnings: [...found.warnings.map((w) => `${label}: ${w}`), ...refined.warnings, ...lowWarnings],
    },
    timing: { nmf: (t1 - t0) / 1000, refine: (t2 - t1) / 1000, total: (performance.now() - t0) / 1000 },
    options: resolved,
    seed: opts.seed,
  };
}
