/**
 * Which test images the demo explains: the first test image of each of the first few classes, and
 * the first misclassified test image (when there is one and it is not already chosen).
 */
import type { ImageItem } from '../data/types.ts';

/** One image to explain and why it was chosen. */
export interface ChosenImage {
  item: ImageItem;
  reason: 'first of its class' | 'misclassified';
}

/**
 * Choose the images to explain.
 * @param items test items in dataset order
 * @param predictions predicted class per item (-1: not classified); same order as items
 * @param classes explain the first item of classes 0 .. classes - 1 (fewer if the split has fewer)
 * @param misclassified also take the first item whose prediction differs from its label
 */
export function chooseImages(items: readonly ImageItem[], predictions: ArrayLike<number>, classes: number, misclassified: boolean): ChosenImage[] {
  const chosen: ChosenImage[] = [];
  const taken = new Set<number>();
  for (let c = 0; c < classes; c++) {
    const i = items.findIndex((it, j) => it.label === c && predictions[j] !== -1);
    if (i < 0) continue;
    chosen.push({ item: items[i], reason: 'first of its class' });
    taken.add(i);
  }
  if (misclassified) {
    const i = items.findIndex((it, j) => predictions[j] !== -1 && predictions[j] !== it.label && !taken.has(j));
    if (i >= 0) chosen.push({ item: items[i], reason: 'misclassified' });
  }
  return chosen;
}
