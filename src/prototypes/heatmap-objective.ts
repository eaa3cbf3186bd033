/**
 * Heatmap normalisation, part fidelity and the split objective of method.md section 4, evaluated on
 * heatmaps already computed by onnxruntime (M = F Q^T, N x k). Everything here is O(N·k) in float64.
 *
 * Norm: a heatmap is cut into groups (one per image for `image-l2`, one for the whole class for
 * `class-l2`), and each group is divided by its L2 norm; a group whose map is exactly zero stays zero.
 *
 * Objective: L(Q) = sum_i sum_g || A_ig - M_ig / sqrt(||M_ig||^2 + eps_g) ||^2, where A_ig is the
 * normalised NMF map of prototype i on group g and M_ig the candidate's map. eps_g =
 * (1e-6 · ||F_g||_F · sigma)^2 is a scale-free guard (sigma is the scale of the candidates) that keeps
 * the objective smooth at zero maps; for any map above 1e-6 of its largest possible norm it changes
 * the value by less than 1e-12 relative. For non-zero maps each term is 2 - 2 cos(A_ig, M_ig).
 */

/** Normalisation groups over the N = n·HW rows of F: `count` consecutive groups of `size` rows. */
export interface Groups {
  count: number;
  size: number;
}

/** Relative guard of the normalisation (see the module comment). */
export const NORM_GUARD = 1e-6;

/**
 * Normalise k heatmaps (M: N x k, row-major, any float array) per group. Returns N x k float64;
 * zero groups stay zero.
 */
export function normalizeMaps(M: ArrayLike<number>, k: number, groups: Groups): Float64Array {
  const out = new Float64Array(groups.count * groups.size * k);
  for (let g = 0; g < groups.count; g++) {
    const r0 = g * groups.size;
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let r = r0; r < r0 + groups.size; r++) s += M[r * k + i] * M[r * k + i];
      if (s === 0) continue;
      const inv = 1 / Math.sqrt(s);
      for (let r = r0; r < r0 + groups.size; r++) out[r * k + i] = M[r * k + i] * inv;
    }
  }
  return out;
}

/**
 * Part fidelity of each of k prototypes: the mean over groups of cos(A_ig, B_ig) between two sets of
 * heatmaps (N x k each). A group where both maps are zero counts 1, where one is zero counts 0.
 */
export function mapFidelity(A: ArrayLike<number>, B: ArrayLike<number>, k: number, groups: Groups): Float64Array {
  const fid = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let total = 0;
    for (let g = 0; g < groups.count; g++) {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let r = g * groups.size; r < (g + 1) * groups.size; r++) {
        const a = A[r * k + i];
        const b = B[r * k + i];
        ab += a * b;
        aa += a * a;
        bb += b * b;
      }
      if (aa === 0 && bb === 0) total += 1;
      else if (aa > 0 && bb > 0) total += ab / Math.sqrt(aa * bb);
    }
    fid[i] = total / groups.count;
  }
  return fid;
}

/**
 * Subtract from each group's map (per prototype) its mean over the group's positions (N x k, float64).
 * A map that is constant over an image becomes zero there: the centred objective ignores per-image
 * offsets, which move no argmax.
 */
export function centreMaps(M: ArrayLike<number>, k: number, groups: Groups): Float64Array {
  const out = new Float64Array(groups.count * groups.size * k);
  for (let g = 0; g < groups.count; g++) {
    const x0 = g * groups.size * k;
    const x1 = x0 + groups.size * k;
    for (let i = 0; i < k; i++) {
      let m = 0;
      for (let x = x0 + i; x < x1; x += k) m += M[x];
      m /= groups.size;
      for (let x = x0 + i; x < x1; x += k) out[x] = M[x] - m;
    }
  }
  return out;
}

/**
 * Peak agreement of each of k prototypes: the fraction of images (groups of `hw` rows) where the two
 * maps (N x k each) have their first maximum at the same position: what the consistency protocol
 * reads from a map is its argmax.
 */
export function peakAgreement(A: ArrayLike<number>, B: ArrayLike<number>, k: number, n: number, hw: number): Float64Array {
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let same = 0;
    for (let g = 0; g < n; g++) {
      let ba = 0;
      let bb = 0;
      for (let h = 1; h < hw; h++) {
        if (A[(g * hw + h) * k + i] > A[(g * hw + ba) * k + i]) ba = h;
        if (B[(g * hw + h) * k + i] > B[(g * hw + bb) * k + i]) bb = h;
      }
      if (ba === bb) same++;
    }
    out[i] = n > 0 ? same / n : 1;
  }
  return out;
}

/** Squared Frobenius norm of each group of rows of F (N x D). */
export function groupEnergy(F: Float32Array, D: number, groups: Groups): Float64Array {
  const e = new Float64Array(groups.count);
  for (let g = 0; g < groups.count; g++) {
    let s = 0;
    const end = (g + 1) * groups.size * D;
    for (let x = g * groups.size * D; x < end; x++) s += F[x] * F[x];
    e[g] = s;
  }
  return e;
}

/**
 * The peak term: weight · sum_(i,g) KL(softmax(tau · A_ig) || softmax(tau · M_ig / nu_ig)), comparing
 * the sharpened maps (a distribution over the group's positions concentrated on the peak), so that
 * the candidate keeps the NMF map's peak where the consistency protocol looks (its argmax).
 */
export interface PeakTerm {
  weight: number;
  temperature: number;
}

/** The split objective for fixed targets; evaluates value and heatmap gradient. */
export class HeatmapObjective {
  /** softmax(tau · A) per (group, prototype) (N x k), when the peak term is on. */
  private readonly peakTargets: Float64Array | null = null;
  /** sum over (i, g) of weight · sum_x P log P (the constant part of the KL). */
  private readonly peakEntropy: number = 0;
  /** Guard per group: (NORM_GUARD · ||F_g||_F · sigma)^2. */
  private readonly eps: Float64Array;
  /** Sum over (i, g) of ||A_ig||^2 (the constant part). */
  private readonly targetEnergy: number;

  /**
   * @param targets normalised NMF maps (N x k, from {@link normalizeMaps})
   * @param energy squared Frobenius norm of F per group (from {@link groupEnergy})
   * @param sigma scale of the candidate prototypes (e.g. their largest L2 norm)
   */
  constructor(
    readonly targets: Float64Array,
    readonly k: number,
    readonly groups: Groups,
    energy: Float64Array,
    sigma: number,
    readonly peak: PeakTerm | null = null,
    /** Compare maps centred per group (targets must be centred too): per-image offsets cost nothing. */
    readonly centred = false,
    /** Count only the groups whose entry is 1 (null: all); the others add nothing and get no gradient. */
    readonly groupMask: Uint8Array | null = null,
  ) {
    this.energy = energy;
    this.sigma = sigma;
    this.eps = energy.map((e) => NORM_GUARD * NORM_GUARD * e * sigma * sigma);
    let t = 0;
    for (let g = 0; g < groups.count; g++) {
      if (groupMask && !groupMask[g]) continue;
      for (let x = g * groups.size * k; x < (g + 1) * groups.size * k; x++) t += targets[x] * targets[x];
    }
    this.targetEnergy = t;
    if (peak && peak.weight > 0) {
      const P = new Float64Array(targets.length);
      let h = 0;
      for (let g = 0; g < groups.count; g++) {
        const x0 = g * groups.size * k;
        const counted = !groupMask || groupMask[g] === 1;
        for (let i = 0; i < k; i++) {
          let m = -Infinity;
          for (let x = x0 + i; x < x0 + groups.size * k; x += k) m = Math.max(m, peak.temperature * targets[x]);
          let z = 0;
          for (let x = x0 + i; x < x0 + groups.size * k; x += k) z += Math.exp(peak.temperature * targets[x] - m);
          for (let x = x0 + i; x < x0 + groups.size * k; x += k) {
            const lp = peak.temperature * targets[x] - m - Math.log(z);
            P[x] = Math.exp(lp);
            if (counted) h += P[x] * lp;
          }
        }
      }
      this.peakTargets = P;
      this.peakEntropy = peak.weight * h;
    }
  }

  private readonly energy: Float64Array;
  private readonly sigma: number;
  /** Work space of the peak term (two rows of a group's size). */
  private scratch = new Float64Array(0);

  /** The same objective counting only the groups where `mask` is 1. */
  restrict(mask: Uint8Array): HeatmapObjective {
    return new HeatmapObjective(this.targets, this.k, this.groups, this.energy, this.sigma, this.peak, this.centred, mask);
  }

  /** L for candidate heatmaps M (N x k). */
  value(M: ArrayLike<number>): number {
    return this.evaluate(this.centred ? centreMaps(M, this.k, this.groups) : M, null);
  }

  /** L and dL/dM (N x k, float32, written into `grad`). */
  valueAndGradient(M: ArrayLike<number>, grad: Float32Array): number {
    if (!this.centred) return this.evaluate(M, grad);
    const value = this.evaluate(centreMaps(M, this.k, this.groups), grad);
    // Centring is a symmetric projection: the gradient is the centred gradient.
    grad.set(centreMaps(grad, this.k, this.groups));
    return value;
  }

  private evaluate(M: ArrayLike<number>, grad: Float32Array | null): number {
    const { k, groups, targets } = this;
    let total = this.targetEnergy;
    const s = new Float64Array(k);
    const t = new Float64Array(k);
    const cm = new Float64Array(k);
    const ca = new Float64Array(k);
    for (let g = 0; g < groups.count; g++) {
      const x0 = g * groups.size * k;
      const x1 = x0 + groups.size * k;
      if (this.groupMask && !this.groupMask[g]) {
        if (grad) grad.fill(0, x0, x1);
        continue;
      }
      const eps = this.eps[g];
      s.fill(0);
      t.fill(0);
      for (let x = x0; x < x1; x += k) {
        for (let i = 0; i < k; i++) {
          const m = M[x + i];
          s[i] += m * m;
          t[i] += targets[x + i] * m;
        }
      }
      for (let i = 0; i < k; i++) {
        const den = s[i] + eps;
        if (den === 0) {
          cm[i] = 0;
          ca[i] = 0;
          continue;
        }
        const nu = Math.sqrt(den);
        total += s[i] / den - (2 * t[i]) / nu;
        cm[i] = (2 * eps) / (den * den) + (2 * t[i]) / (nu * den);
        ca[i] = -2 / nu;
      }
      if (grad) {
        for (let x = x0; x < x1; x += k) {
          for (let i = 0; i < k; i++) grad[x + i] = cm[i] * M[x + i] + ca[i] * targets[x + i];
        }
      }
      if (this.peakTargets) total += this.peakValue(M, g, s, grad);
    }
    return total + this.peakEntropy;
  }

  /**
   * The peak term's group g (without its constant entropy part): -weight · sum_x P log Q, Q =
   * softmax(tau · M / nu); adds its gradient to `grad`. s holds the group's squared map norms.
   */
  private peakValue(M: ArrayLike<number>, g: number, s: Float64Array, grad: Float32Array | null): number {
    const { k, groups } = this;
    const P = this.peakTargets as Float64Array;
    const { weight, temperature: tau } = this.peak as PeakTerm;
    const x0 = g * groups.size * k;
    const x1 = x0 + groups.size * k;
    let total = 0;
    const size = groups.size;
    if (this.scratch.length < 2 * size) this.scratch = new Float64Array(2 * size);
    // u: the sharpened map tau · M / nu; q: softmax of u (each computed once per position).
    const u = this.scratch.subarray(0, size);
    const q = this.scratch.subarray(size, 2 * size);
    for (let i = 0; i < k; i++) {
      const den = s[i] + this.eps[g];
      // A zero map's Q is uniform: its cross-entropy is constant and has no gradient.
      const nu = den > 0 ? Math.sqrt(den) : 1;
      let m = -Infinity;
      for (let r = 0, x = x0 + i; x < x1; r++, x += k) {
        u[r] = (tau * M[x]) / nu;
        m = Math.max(m, u[r]);
      }
      let z = 0;
      for (let r = 0; r < size; r++) z += Math.exp(u[r] - m);
      const logZ = m + Math.log(z);
      let gm = 0;
      for (let r = 0, x = x0 + i; x < x1; r++, x += k) {
        const lq = u[r] - logZ;
        total -= weight * P[x] * lq;
        if (grad) {
          q[r] = Math.exp(lq);
          gm += weight * tau * (q[r] - P[x]) * M[x];
        }
      }
      if (grad && den > 0) {
        // dL/dM_y = G_y / nu - M_y (sum_x G_x M_x) / nu^3, G = weight · tau · (Q - P).
        for (let r = 0, x = x0 + i; x < x1; r++, x += k) {
          const G = weight * tau * (q[r] - P[x]);
          grad[x] += G / nu - (M[x] * gm) / (nu * nu * nu);
        }
      }
    }
    return total;
  }
}
