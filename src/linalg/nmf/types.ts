/** Types of the NMF solvers (engine and plain-JS). */

/** `hals`: hierarchical ALS (exact coordinate descent on one row of a factor at a time); `mu`: Lee-Seung multiplicative updates. */
export type NmfSolver = 'hals' | 'mu';

/** How the starting factors are chosen. */
export type NmfInit = 'nndsvda' | 'random';

/** Where F lives during the iterations of the engine solver. */
export type NmfResidence = 'auto' | 'initializer' | 'input';

/** Options of {@link nmf}. */
export interface NmfOptions {
  /** Number of components (prototypes), >= 1. */
  k: number;
  /** Solver. Default 'hals'. */
  solver?: NmfSolver;
  /** Seed of the randomised SVD (nndsvda) or of the random start. Default 0. */
  seed?: number;
  /** Iteration cap. Default 200 for hals, 1000 for mu. */
  maxIter?: number;
  /**
   * Stop when the relative improvement of ||F - E P||_F between two error checks,
   * (previous - current) / previous, falls below tol. 0 runs maxIter iterations. Default 1e-4.
   */
  tol?: number;
  /** Iterations between error checks (each check computes ||F - E P|| directly). Default 10. */
  checkEvery?: number;
  /** Initialisation. Default 'nndsvda'. Ignored when `initial` is given. */
  init?: NmfInit;
  /**
   * Power iterations of the randomised SVD behind 'nndsvda' (each costs two products with F).
   * Default scikit-learn's rule: 7 when k < 0.1 min(n, d), else 4.
   */
  svdPowerIterations?: number;
  /** Explicit starting factors (warm start): E is n x k, P is k x d, both non-negative. */
  initial?: { E: Float32Array; P: Float32Array };
  /** onnxruntime intra-op threads. Default min(4, cores). The result's bits do not depend on it (tested). */
  threads?: number;
  /**
   * 'initializer' bakes F into the iterate model (onnxruntime pre-packs it for the products: about
   * 1.5-2x faster iterations, for one model build and a second copy of F in memory); 'input' passes
   * it on every run (zero-copy). 'auto' (default) bakes F up to 1 GiB (protobuf's limit is 2 GiB).
   * The two use different GEMM kernels, so their results differ in the last bits; each is
   * deterministic and independent of the thread count.
   */
  residence?: NmfResidence;
  /** Record the error at every check in `history`. Default false. */
  history?: boolean;
}

/** One error check of a run. */
export interface NmfCheck {
  /** Iterations done at this check (0 = the starting point). */
  iteration: number;
  /** ||F - E P||_F / ||F||_F. */
  relError: number;
  /** Milliseconds since the call started (setup and initialisation included). */
  elapsedMs: number;
}

/** The answer of {@link nmf}: F (n x d) ~ E P. */
export interface NmfResult {
  /** n x k row-major, non-negative. */
  E: Float32Array;
  /** k x d row-major, non-negative; components ordered by decreasing ||e_i|| ||p_i||. */
  P: Float32Array;
  /** ||F' - E P||_F / ||F'||_F where F' is F after the non-negativity shift (F itself when none). 0 for an all-zero F. */
  relError: number;
  /** Iterations run. */
  iterations: number;
  /** True when the tol criterion stopped the run (or the fit became exact), false when maxIter did. */
  converged: boolean;
  /** d values s with F' = F - 1 s^T: the per-channel minimum of F where it is negative, else 0. Present only when F had negatives. */
  shift?: Float32Array;
  warnings: string[];
  seed: number;
  solver: NmfSolver;
  /** The initialisation used ('given' for a warm start). */
  init: NmfInit | 'given';
  /** Where F lived during the engine iterations (absent for zero F and for the plain-JS solver). */
  residence?: 'initializer' | 'input';
  /** The error at every check, when requested. */
  history?: NmfCheck[];
}
