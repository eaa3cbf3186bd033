/** Image datasets (ImageFolder, CUB-200-2011), decoding and preprocessing, streamed batches. */
export * from './types.ts';
export * from './order.ts';
export * from './dataset.ts';
export * from './image-folder.ts';
export * from './cub.ts';
export * from './open.ts';
export * from './preprocess-config.ts';
export * from './geometry.ts';
export * from './decode.ts';
export * from './resize.ts';
export * from './load.ts';
export * from './batches.ts';
