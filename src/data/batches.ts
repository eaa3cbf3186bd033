/**
 * Streaming batches with decode-ahead: items are pulled lazily from any (async) iterable, up to
 * `concurrency` images decode at once, and up to `prefetch` batches are prepared beyond the one the
 * consumer holds, so inference rarely waits and memory stays bounded whatever the dataset's size.
 */
import { UsageError } from '../util/errors.ts';
import { DecodeFailure } from './decode.ts';
import type { Geometry } from './geometry.ts';
import { encodeJpeg, loadImage } from './load.ts';
import { batchShape, imageTensorLength } from './preprocess.ts';
import type { PreprocessConfig } from './preprocess-config.ts';
import type { Failure, ImageItem, PartLocation } from './types.ts';

/** One batch, in input order. Failed images are left out of `items`/`tensor` and listed in `failures`. */
export interface Batch {
  /** 0-based batch number: batch b holds input items [b * batchSize, (b + 1) * batchSize). */
  index: number;
  /** Successfully decoded items, in input order (may be fewer than batchSize, even zero). */
  items: ImageItem[];
  /** n x 3 x H x W (NCHW) or n x H x W x 3 (NHWC) float32, n = items.length. */
  tensor: Float32Array;
  shape: [number, number, number, number];
  /** Per item: its parts in input pixels (undefined when the item has no parts). */
  parts: (PartLocation[] | undefined)[];
  /** Per item: how it maps to the input. */
  geometries: Geometry[];
  /** Items of this batch that could not be used, in input order. */
  failures: Failure[];
  /** Per item: its input picture as JPEG, with `keepPictures` (else empty). */
  pictures: Uint8Array[];
}

export interface BatchOptions {
  /** Images per batch (default 32). */
  batchSize?: number;
  /** Batches prepared ahead of the one the consumer holds (default 2, at least 1). */
  prefetch?: number;
  /** Images decoding at once (default: UV_THREADPOOL_SIZE, else 4). */
  concurrency?: number;
  /** Make the first unusable image an InputError naming the file, instead of skipping it. */
  strict?: boolean;
  /** Called for each failure, in input order, just before its batch is yielded. */
  onFailure?: (f: Failure) => void;
  /**
   * Keep each image as the model saw it (8-bit RGB at the input geometry), JPEG-encoded at this
   * quality (4:4:4), in the batch's `pictures`: later steps (exemplar patches) then need no second
   * decode of the originals. Default: not kept.
   */
  keepPictures?: { quality: number };
}

/** Counters for reports and for checking that decoding keeps ahead of the consumer. */
export interface BatchStats {
  itemsRead: number;
  decodesStarted: number;
  decoded: number;
  failed: number;
  maxInFlight: number;
  batchesYielded: number;
  /** next() calls that found their batch not yet ready. */
  consumerWaits: number;
  /** Total time next() spent waiting for decodes, ms. */
  consumerWaitMs: number;
}

interface Slot {
  item: ImageItem;
  ok?: { parts?: PartLocation[]; geometry: Geometry; picture?: Uint8Array };
  failure?: Failure;
  error?: unknown;
}

interface Pending {
  slots: Slot[];
  tensor: Float32Array;
  sealed: boolean;
  remaining: number;
}

/**
 * The default number of decodes in flight: libuv's thread-pool size (UV_THREADPOOL_SIZE, 4 unless
 * set), which is where sharp runs; more would only queue. Measured on 2 cores: 4 in flight beat 2
 * (one image's JavaScript steps overlap another's native decode).
 */
export function defaultConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(pool) && pool >= 1 ? Math.min(pool, 64) : 4;
}

/** A one-shot async iterable of batches; see `batches`. */
export class BatchStream implements AsyncIterable<Batch>, AsyncIterator<Batch, undefined> {
  readonly stats: BatchStats = { itemsRead: 0, decodesStarted: 0, decoded: 0, failed: 0, maxInFlight: 0, batchesYielded: 0, consumerWaits: 0, consumerWaitMs: 0 };
  /** Every failure yielded so far, in input order. */
  readonly failures: Failure[] = [];
  private readonly batchSize: number;
  private readonly prefetch: number;
  private readonly concurrency: number;
  private readonly strict: boolean;
  private readonly onFailure?: (f: Failure) => void;
  private readonly keepPictures?: { quality: number };
  private readonly per: number;
  private source?: Iterator<ImageItem> | AsyncIterator<ImageItem>;
  private readonly pending = new Map<number, Pending>();
  private fill = 0;
  private inFlight = 0;
  private sourceDone = false;
  private closed = false;
  private stopPulling = false;
  private pumping = false;
  private fatal: unknown;
  private waiter?: () => void;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly input: Iterable<ImageItem> | AsyncIterable<ImageItem>,
    private readonly cfg: PreprocessConfig,
    options: BatchOptions = {},
  ) {
    const int = (v: number | undefined, def: number, name: string, min: number): number => {
      const n = v ?? def;
      if (!Number.isInteger(n) || n < min) throw new UsageError(`batches: ${name} must be an integer >= ${min}, got ${String(v)}`);
      return n;
    };
    this.batchSize = int(options.batchSize, 32, 'batchSize', 1);
    this.prefetch = int(options.prefetch, 2, 'prefetch', 1);
    this.concurrency = int(options.concurrency, defaultConcurrency(), 'concurrency', 1);
    this.strict = options.strict ?? false;
    this.onFailure = options.onFailure;
    if (options.keepPictures !== undefined) {
      const q = options.keepPictures.quality;
      if (!Number.isInteger(q) || q < 1 || q > 100) throw new UsageError(`batches: keepPictures.quality must be an integer from 1 to 100, got ${String(q)}`);
      this.keepPictures = { quality: q };
    }
    this.per = imageTensorLength(cfg);
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch, undefined> {
    return this;
  }

  /** Begin reading and decoding now, before the first next(). */
  start(): this {
    if (!this.source) {
      const inp = this.input as AsyncIterable<ImageItem> & Iterable<ImageItem>;
      this.source = typeof inp[Symbol.asyncIterator] === 'function' ? inp[Symbol.asyncIterator]() : inp[Symbol.iterator]();
    }
    void this.pump();
    return this;
  }

  /** The next batch, in order. Calls are served one after another. */
  next(): Promise<IteratorResult<Batch, undefined>> {
    const r = this.chain.then(() => this.nextInner());
    this.chain = r.catch(() => undefined);
    return r;
  }

  private async nextInner(): Promise<IteratorResult<Batch, undefined>> {
    this.start();
    const b = this.stats.batchesYielded;
    let t0 = 0;
    for (;;) {
      if (this.fatal !== undefined) {
        this.closed = true;
        throw this.fatal;
      }
      if (this.closed) return { done: true, value: undefined };
      const p = this.pending.get(b);
      if (p && p.sealed && p.remaining === 0) break;
      if (!p && (this.sourceDone || this.stopPulling)) {
        this.closed = true;
        return { done: true, value: undefined };
      }
      if (t0 === 0) {
        t0 = performance.now();
        this.stats.consumerWaits++;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    if (t0 !== 0) this.stats.consumerWaitMs += performance.now() - t0;
    const strictError = this.pending.get(b)!.slots.find((s) => s.error !== undefined)?.error;
    if (strictError !== undefined) {
      this.closed = true;
      this.pending.clear();
      throw strictError;
    }
    const batch = this.take(b);
    void this.pump();
    return { done: false, value: batch };
  }

  /** Stop early: no more items are read; decodes already running finish and are discarded. */
  async return(): Promise<IteratorResult<Batch, undefined>> {
    this.closed = true;
    this.pending.clear();
    this.wake();
    const src = this.source as { return?: () => unknown } | undefined;
    if (src?.return && !this.sourceDone) await src.return();
    return { done: true, value: undefined };
  }

  private take(b: number): Batch {
    const p = this.pending.get(b)!;
    this.pending.delete(b);
    const items: ImageItem[] = [];
    const parts: (PartLocation[] | undefined)[] = [];
    const geometries: Geometry[] = [];
    const failures: Failure[] = [];
    const pictures: Uint8Array[] = [];
    const okIdx: number[] = [];
    p.slots.forEach((s, i) => {
      if (s.ok) {
        items.push(s.item);
        parts.push(s.ok.parts);
        geometries.push(s.ok.geometry);
        if (s.ok.picture) pictures.push(s.ok.picture);
        okIdx.push(i);
      } else if (s.failure) failures.push(s.failure);
    });
    let tensor: Float32Array;
    if (okIdx.length === p.slots.length) tensor = p.tensor.subarray(0, okIdx.length * this.per);
    else {
      tensor = new Float32Array(okIdx.length * this.per);
      okIdx.forEach((src, dst) => tensor.set(p.tensor.subarray(src * this.per, (src + 1) * this.per), dst * this.per));
    }
    this.stats.batchesYielded++;
    for (const f of failures) {
      this.failures.push(f);
      this.onFailure?.(f);
    }
    return { index: b, items, tensor, shape: batchShape(items.length, this.cfg), parts, geometries, failures, pictures };
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private canStart(): boolean {
    return !this.closed && !this.stopPulling && !this.sourceDone && this.fatal === undefined && this.inFlight < this.concurrency && this.fill < this.stats.batchesYielded + this.prefetch;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.canStart()) {
        let r: IteratorResult<ImageItem>;
        try {
          r = await this.source!.next();
        } catch (e) {
          this.fatal = e;
          break;
        }
        if (this.closed) break;
        let p = this.pending.get(this.fill);
        if (r.done) {
          this.sourceDone = true;
          if (p) p.sealed = true;
          break;
        }
        this.stats.itemsRead++;
        if (!p) {
          p = { slots: [], tensor: new Float32Array(this.batchSize * this.per), sealed: false, remaining: 0 };
          this.pending.set(this.fill, p);
        }
        const slot: Slot = { item: r.value };
        const pos = p.slots.length;
        p.slots.push(slot);
        p.remaining++;
        if (p.slots.length === this.batchSize) {
          p.sealed = true;
          this.fill++;
        }
        this.decode(p, slot, pos);
      }
    } finally {
      this.pumping = false;
      this.wake();
    }
  }

  private decode(p: Pending, slot: Slot, pos: number): void {
    this.inFlight++;
    this.stats.decodesStarted++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    const { item } = slot;
    const keep = this.keepPictures;
    loadImage(item, this.cfg, { out: p.tensor, offset: pos * this.per, keepRgb: keep !== undefined })
      .then(async (r) => {
        const picture = keep && r.rgb ? await encodeJpeg(r.rgb, keep.quality) : undefined;
        slot.ok = { parts: r.parts, geometry: r.geometry, ...(picture ? { picture } : {}) };
        this.stats.decoded++;
      })
      .catch((e: unknown) => {
        if (e instanceof DecodeFailure) {
          this.stats.failed++;
          if (this.strict) {
            // raised when the consumer reaches this batch; earlier batches are still delivered
            slot.error = e;
            this.stopPulling = true;
            p.sealed = true;
            const cur = this.pending.get(this.fill);
            if (cur) cur.sealed = true;
          } else slot.failure = { index: item.index, id: item.id, path: item.path, reason: e.reason };
        } else {
          this.fatal = e;
        }
      })
      .finally(() => {
        this.inFlight--;
        p.remaining--;
        void this.pump();
        this.wake();
      });
  }
}

/**
 * Iterate preprocessed batches of `items` (any iterable or async iterable, read lazily). Order is
 * preserved; an unusable image is skipped and reported in its batch's `failures` (and to
 * `onFailure`), or with `strict` becomes an InputError naming the file when its batch is reached.
 */
export function batches(items: Iterable<ImageItem> | AsyncIterable<ImageItem>, cfg: PreprocessConfig, options: BatchOptions = {}): BatchStream {
  return new BatchStream(items, cfg, options);
}
