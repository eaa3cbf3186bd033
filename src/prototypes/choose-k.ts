/**
 * `k: 'auto'`: the number of part-prototypes of one class, chosen from its features. NMF is run for
 * k = 1 .. kMax (same seed and settings as the decomposition); e_k = ||F - E P|| / ||F|| is its
 * relative error and x_k = 1 - e_k^2 the share of the features' energy the k parts explain (x_0 = 0).
 * The gain of the k-th part is x_k - x_(k-1). The chosen k is the smallest k whose successor is an
 * elbow of the curve: it gains less than `minRatio` times the k-th part's gain (a part explaining a
 * tenth of its predecessor is noise on planted data, where the gains drop to about 0 after the true
 * count), or less than `minGain` of the energy the first part leaves unexplained (1 - x_1): a floor
 * for smooth curves without an elbow. kMax when neither happens. Measured on planted classes with a
 * known number of parts (test/prototypes/choose-k.test.ts) and reported per class in the manifest.
 */
import { discoverPrototypes, type Discovery } from './discover.ts';
import type { ResolvedOptions } from './options.ts';

export interface KSelection {
  /** The chosen k. */
  k: number;
  /** Relative NMF error e_k for k = 1 .. kMax (index k - 1). */
  relErrors: number[];
  /** Gain of each part, x_k - x_(k-1), for k = 1 .. kMax. */
  gains: number[];
  /** The floor the gains were compared with: minGain · (1 - x_1). */
  floor: number;
  /** Why k was chosen: `elbow` (the next gain fell below minRatio x this one), `floor`, or `kMax`. */
  reason: 'elbow' | 'floor' | 'kMax';
}

/** Choose k for one class and return the NMF discovery at that k (reused by the decomposition). */
export async function chooseK(F: Float32Array, N: number, D: number, opts: ResolvedOptions, kMax: number, rule: { minGain: number; minRatio: number }): Promise<{ selection: KSelection; found: Discovery }> {
  const runs: Discovery[] = [];
  for (let k = 1; k <= kMax; k++) runs.push(await discoverPrototypes(F, N, D, { ...opts, k }));
  const explained = runs.map((r) => 1 - r.relError * r.relError);
  const gains = explained.map((x, i) => x - (i === 0 ? 0 : explained[i - 1]));
  const floor = rule.minGain * (1 - explained[0]);
  let k = kMax;
  let reason: KSelection['reason'] = 'kMax';
  for (let j = 1; j < kMax; j++) {
    // gains[j] is part j + 1's; NaN fails both comparisons and stops here too.
    const elbow = !(gains[j] >= rule.minRatio * gains[j - 1]);
    if (elbow || !(gains[j] >= floor)) {
      k = j;
      reason = elbow ? 'elbow' : 'floor';
      break;
    }
  }
  return { selection: { k, relErrors: runs.map((r) => r.relError), gains, floor, reason }, found: runs[k - 1] };
}
