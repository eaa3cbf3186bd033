/**
 * The check that a class's features can carry k prototypes: at least k usable images and at least
 * k feature positions that are not all zero. Anything less is an InputError naming the class,
 * raised before the class reaches the solver.
 */
import { InputError } from '../util/errors.ts';

/**
 * F: n x hw x d features of one class (row-major). `label` names the class (e.g. "class 3 ('cat')"),
 * `failed` is how many of its images could not be decoded (for the message).
 * @throws InputError when n < k or fewer than k positions have a non-zero feature vector.
 */
export function checkUsableClass(F: Float32Array, n: number, hw: number, d: number, k: number, label: string, failed = 0): void {
  const skipped = failed > 0 ? ` (${failed} of its images could not be decoded)` : '';
  if (n === 0) throw new InputError(`${label}: no usable training images${skipped}; every class needs at least k = ${k}`);
  if (n < k) throw new InputError(`${label}: ${n} usable training image${n === 1 ? '' : 's'}${skipped}, fewer than k = ${k} prototypes; lower k or add images to the class`);
  let nonZero = 0;
  for (let r = 0; r < n * hw && nonZero < k; r++) {
    const row = r * d;
    for (let c = 0; c < d; c++) {
      if (F[row + c] !== 0) {
        nonZero++;
        break;
      }
    }
  }
  if (nonZero < k) {
    throw new InputError(
      `${label}: only ${nonZero} of its ${n * hw} feature positions (${n} images x ${hw}) have a non-zero feature vector, fewer than k = ${k}: ` +
        'the features are (almost) all zero, so NMF cannot find k prototypes; check the model and the preprocessing (e.g. --normalize)',
    );
  }
}
