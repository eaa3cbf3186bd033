/**
 * Shared data types of the image-data layer: dataset items, part annotations, boxes and the
 * per-image failure record every long run reports.
 */

/** A bounding box as written in an annotation file (floats, top-left corner plus size, source pixels). */
export interface BoundingBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * An integer crop region of the source image: pixels [x1, x2) x [y1, y2). It may extend beyond the
 * image; pixels outside are black (as PIL's `Image.crop` does).
 */
export interface CropBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * One annotated part location. In a dataset item the coordinates are integer source pixels (CUB's
 * part_locs.txt values truncated with int(float(v))); after preprocessing they are integer input
 * pixels (see `mapPoint`), and `inFrame` says whether they fall inside the input.
 */
export interface PartLocation {
  /** Part id as in parts/parts.txt (1-based in CUB). */
  partId: number;
  x: number;
  y: number;
  /** The annotation's visible flag (only visible parts are scored by evaluation; all are kept). */
  visible: boolean;
  /** Set on mapped parts only: the point lies inside the preprocessed input. */
  inFrame?: boolean;
}

/** One image of a dataset. */
export interface ImageItem {
  /** Position in the dataset's (or split's) item order, 0-based. */
  index: number;
  /** Stable identifier: the CUB image id, or the path relative to the ImageFolder root (POSIX separators). */
  id: string;
  /** Absolute path of the image file. */
  path: string;
  /** Class index into `Dataset.classNames`. */
  label: number;
  /** Bounding box as annotated (CUB bounding_boxes.txt), when known. */
  bbox?: BoundingBox;
  /** Integer crop derived from `bbox` with the reference truncation; used by `cropToBox`. */
  crop?: CropBox;
  /** Annotated parts in source pixels, all of them, with their visible flags. */
  parts?: PartLocation[];
  /** CUB train_test_split.txt flag, when known. */
  isTrain?: boolean;
  /** CUB foreground mask (segmentations/<class>/<image>.png), when the dataset has that folder. */
  segmentation?: string;
}

/** A file that could not be used. Never dropped silently: counted and listed in the run's report. */
export interface Failure {
  /** The item's dataset index. */
  index: number;
  id: string;
  path: string;
  /** Short cause, e.g. 'empty file', 'file not found', 'truncated JPEG 500 x 375 (no end-of-image marker)'. */
  reason: string;
}

/** A directory entry a dataset listing passed over (non-image file, class not in the list). */
export interface IgnoredFile {
  path: string;
  reason: string;
}
