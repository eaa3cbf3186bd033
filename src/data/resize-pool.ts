/**
 * Resizing on worker threads. onnxruntime-node runs inference synchronously on the main thread, so a
 * resize computed there waits for, and delays, every model run; on a worker it runs meanwhile. The
 * workers (PROTOLENS_RESIZE_THREADS, default: the cores but one, at least 1) start on first use, are
 * unreferenced (they never keep the process alive) and compute with the same code as the main thread,
 * so the bytes do not depend on where a resize ran. When workers cannot start, resizing falls back to
 * the calling thread.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/worker.ts';
import type { RgbImage } from './decode.ts';
import type { Interpolation } from './preprocess-config.ts';

export interface ResizeRequest {
  id: number;
  data: ArrayBuffer;
  width: number;
  height: number;
  outWidth: number;
  outHeight: number;
  interpolation: Interpolation;
}

export type ResizeReply = { id: number; data: ArrayBuffer } | { id: number; error: string };

interface PoolWorker {
  worker: Worker;
  busy: number;
}

let workers: PoolWorker[] | null = null;
let failed = false;
let nextId = 0;
const pending = new Map<number, { resolve: (r: RgbImage) => void; reject: (e: Error) => void; width: number; height: number; owner: PoolWorker }>();

/** Worker threads used for resizing (PROTOLENS_RESIZE_THREADS, else cores - 1, at least 1). */
export function resizeThreads(): number {
  const v = process.env.PROTOLENS_RESIZE_THREADS;
  if (v !== undefined && /^\d+$/.test(v.trim())) return Number(v);
  return Math.max(1, availableParallelism() - 1);
}

function start(): PoolWorker[] | null {
  if (workers || failed) return workers;
  const n = resizeThreads();
  if (n < 1) {
    failed = true;
    return null;
  }
  try {
    workers = Array.from({ length: n }, () => {
      const pw: PoolWorker = { worker: startModuleWorker('./resize-worker.ts', import.meta.url), busy: 0 };
      pw.worker.unref();
      pw.worker.on('message', (m: ResizeReply) => {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        p.owner.busy--;
        if (p.owner.busy === 0) p.owner.worker.unref();
        if ('error' in m) p.reject(new Error(m.error));
        else p.resolve({ data: new Uint8Array(m.data), width: p.width, height: p.height });
      });
      pw.worker.on('error', (e) => {
        for (const [id, p] of pending) if (p.owner === pw) {
          pending.delete(id);
          p.reject(e);
        }
      });
      return pw;
    });
  } catch {
    failed = true;
    workers = null;
  }
  return workers;
}

/** Resize on the least busy worker; null when no worker is available (the caller resizes itself). */
export function resizeOnPool(img: RgbImage, width: number, height: number, interpolation: Interpolation): Promise<RgbImage> | null {
  const pool = start();
  if (!pool) return null;
  const owner = pool.reduce((a, b) => (b.busy < a.busy ? b : a));
  const id = nextId++;
  const copy = img.data.slice(); // a view on a pooled Buffer must not be transferred
  return new Promise<RgbImage>((resolve, reject) => {
    pending.set(id, { resolve, reject, width, height, owner });
    if (owner.busy++ === 0) owner.worker.ref(); // keep the process alive while a resize is under way
    const req: ResizeRequest = { id, data: copy.buffer, width: img.width, height: img.height, outWidth: width, outHeight: height, interpolation };
    owner.worker.postMessage(req, [copy.buffer]);
  });
}
