/** Explanations: per-image logits, contributions, heatmaps and boxes, their pictures and cards. */
export * from './explain.ts';
export * from './schema.ts';
export { PictureWriter, pictureScale, safeStem, type PictureOptions, type ImagePictures } from './report.ts';
export * from '../pictures/index.ts';
export * from './card.ts';
