/**
 * The bundled synthetic parts dataset: drawn birds whose classes differ in part attributes, written
 * in the CUB-200-2011 layout with exact part keypoints, generated deterministically from a seed.
 */
export {
  GENERATOR_VERSION,
  DEFAULT_DATASET_SEED,
  DATASET_CLAIM_FILE,
  DATASET_COMPLETE_FILE,
  generatePartsDataset,
  resolvePartsDatasetParams,
  type PartsDatasetOptions,
  type PartsDatasetParams,
  type PartsDatasetResult,
} from './generate.ts';
export {
  ATTRIBUTE_NAMES,
  ATTRIBUTE_VALUES,
  DEFAULT_ATTRIBUTE_SEED,
  MAX_VALUE_SPREAD,
  PALETTE,
  PART_GROUPS,
  PART_GROUP_NAMES,
  attributeDifference,
  classAttributes,
  partDifference,
  partsIdentifyingClass,
  valueSpread,
  type AttributeName,
  type ClassSpec,
  type ClassTableOptions,
  type CreatureAttributes,
  type PartGroup,
} from './attributes.ts';
export { PART_NAMES, anchorClearance, canonicalPart, sidePart, type CanonicalPart, type Highlight, type PartName } from './creature.ts';
export {
  DEFAULT_SCENE,
  PART_MARK_COLOURS,
  renderCreature,
  type CreatureBox,
  type CreatureView,
  type PartKeypoint,
  type RenderedCreature,
  type SceneOptions,
} from './scene.ts';
export { contactSheet, type ContactSheetOptions, type ContactSheetResult } from './contact-sheet.ts';
export { readCubFiles, type CubFilesImage, type CubFiles } from './cub-files.ts';
