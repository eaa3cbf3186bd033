/**
 * Many classes on worker threads. Classes are pulled from the source one at a time, only when a
 * worker is free, so at most `threads` classes' features are in memory at once; each worker gets
 * its class's F by transfer (the caller's buffer is detached), not by copy. Results come back in
 * source order and do not depend on the number of threads: every class runs the same
 * single-threaded computation whichever worker takes it.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../util/worker.ts';
import { CheckError, InputError, ProtolensError, UsageError, type ExitCodeValue } from '../util/errors.ts';
import { CLOSE_MESSAGE, type WorkerReply, type WorkerRequest } from './class-worker.ts';

/** How long a worker may take to release its sessions and end before it is terminated. */
const CLOSE_GRACE_MS = 5000;
import { decomposeClass, type ClassDecomposition, type ClassInput } from './decompose.ts';
import { resolveOptions, type DecomposeOptions } from './options.ts';

/** Loads class c (0 <= c < count) on demand, e.g. from an on-disk feature cache. */
export interface ClassLoader {
  count: number;
  load(c: number): Promise<ClassInput> | ClassInput;
}

/**
 * Where the classes come from: an array, a (async) iterable, or a lazy loader. For arrays and loaders
 * a missing classIndex defaults to the position.
 */
export type ClassSource = readonly ClassInput[] | Iterable<ClassInput> | AsyncIterable<ClassInput> | ClassLoader;

/** A class entering or leaving the computation (for progress reporting). */
export interface ClassProgress {
  /** Position in the source. */
  seq: number;
  classIndex: number | null;
  /** `start`: loaded and handed to a thread; `done`: its result is ready (its F is released). */
  event: 'start' | 'done';
}

export interface ParallelOptions extends DecomposeOptions {
  /** Worker threads. 1 runs in the calling thread. Default: the machine's available parallelism. */
  threads?: number;
  /** Called when a class starts and when it is done (in the calling thread). */
  onProgress?: (p: ClassProgress) => void;
}

function isLoader(s: ClassSource): s is ClassLoader {
  return typeof (s as ClassLoader).load === 'function' && typeof (s as ClassLoader).count === 'number';
}

async function* iterate(source: ClassSource): AsyncGenerator<ClassInput> {
  if (isLoader(source)) {
    for (let c = 0; c < source.count; c++) {
      const input = await source.load(c);
      yield { ...input, classIndex: input.classIndex ?? c };
    }
  } else if (Array.isArray(source)) {
    for (let c = 0; c < source.length; c++) yield { ...source[c], classIndex: source[c].classIndex ?? c };
  } else if (Symbol.asyncIterator in source) {
    yield* source as AsyncIterable<ClassInput>;
  } else {
    yield* source as Iterable<ClassInput>;
  }
}

/** Start one decomposition worker (src/prototypes/class-worker.ts). */
function startWorker(): Worker {
  return startModuleWorker('./class-worker.ts', import.meta.url);
}

function rebuildError(e: { name: string; message: string; exitCode: number | null; stack?: string }): Error {
  let err: Error;
  if (e.name === 'CheckError') err = new CheckError(e.message);
  else if (e.name === 'InputError') err = new InputError(e.message);
  else if (e.name === 'UsageError') err = new UsageError(e.message);
  else if (e.exitCode !== null) err = new ProtolensError(e.message, e.exitCode as ExitCodeValue);
  else err = new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}

/** F ready to transfer: its own buffer if it owns one exactly, else a copy. */
function transferable(F: Float32Array): Float32Array {
  if (F.buffer instanceof ArrayBuffer && F.byteOffset === 0 && F.byteLength === F.buffer.byteLength) return F;
  return F.slice();
}

interface Task {
  seq: number;
  worker: Worker;
  outcome: { result: ClassDecomposition } | { error: Error };
}

class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting = new Map<Worker, (t: Task) => void>();
  private readonly seqOf = new Map<Worker, number>();

  constructor(private readonly size: number) {}

  hasIdle(): boolean {
    return this.idle.length > 0 || this.workers.length < this.size;
  }

  private spawn(): Worker {
    const w = startWorker();
    w.on('message', (reply: WorkerReply) => {
      const done = this.waiting.get(w);
      if (!done) return;
      this.waiting.delete(w);
      done({ seq: reply.seq, worker: w, outcome: 'result' in reply ? { result: reply.result } : { error: rebuildError(reply.error) } });
    });
    const fail = (err: Error) => {
      const done = this.waiting.get(w);
      if (!done) return;
      this.waiting.delete(w);
      done({ seq: this.seqOf.get(w) ?? -1, worker: w, outcome: { error: err } });
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`decomposition worker exited with code ${code}`)));
    this.workers.push(w);
    return w;
  }

  run(seq: number, input: ClassInput, options: DecomposeOptions): Promise<Task> {
    const w = this.idle.pop() ?? this.spawn();
    const F = transferable(input.F);
    const request: WorkerRequest = { seq, input: { ...input, F, v: Float32Array.from(input.v) }, options };
    this.seqOf.set(w, seq);
    const p = new Promise<Task>((resolve) => this.waiting.set(w, resolve));
    w.postMessage(request, [F.buffer as ArrayBuffer]);
    return p;
  }

  release(w: Worker): void {
    this.idle.push(w);
  }

  /**
   * Ask every worker to release its onnxruntime sessions and end; a worker that has not ended after
   * a few seconds (e.g. still inside a class after a failure elsewhere) is terminated.
   */
  async close(): Promise<void> {
    this.waiting.clear();
    await Promise.all(
      this.workers.map(async (w) => {
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage(CLOSE_MESSAGE);
        const timer = setTimeout(() => void w.terminate(), CLOSE_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/**
 * Decompose many classes, yielding results in source order as they complete.
 * Options are validated before any class is loaded. The first failing class stops the run with its
 * error (InputError or CheckError naming the class).
 */
export async function* decomposeClassesStream(source: ClassSource, options: ParallelOptions = {}): AsyncGenerator<ClassDecomposition> {
  const { threads: threadsOpt, onProgress, ...decomposeOptions } = options;
  const report = (seq: number, input: { classIndex?: number } | ClassDecomposition, event: ClassProgress['event']) =>
    onProgress?.({ seq, classIndex: input.classIndex ?? null, event });
  resolveOptions(decomposeOptions);
  const threads = threadsOpt ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new InputError(`option threads: expected an integer >= 1, got ${JSON.stringify(threadsOpt)}`);
  const inputs = iterate(source);

  if (threads === 1) {
    let seq = 0;
    for await (const input of inputs) {
      report(seq, input, 'start');
      const r = await decomposeClass(input, decomposeOptions);
      report(seq++, r, 'done');
      yield r;
    }
    return;
  }

  const pool = new WorkerPool(threads);
  const inflight = new Map<number, Promise<Task>>();
  const finished = new Map<number, ClassDecomposition>();
  let nextSeq = 0;
  let nextOut = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && pool.hasIdle()) {
        const it = await inputs.next();
        if (it.done) {
          exhausted = true;
          break;
        }
        const seq = nextSeq++;
        report(seq, it.value, 'start');
        inflight.set(seq, pool.run(seq, it.value, decomposeOptions));
      }
      while (finished.has(nextOut)) {
        const r = finished.get(nextOut)!;
        finished.delete(nextOut);
        nextOut++;
        yield r;
      }
      if (inflight.size === 0) {
        if (exhausted) break;
        continue;
      }
      const task = await Promise.race(inflight.values());
      inflight.delete(task.seq);
      if ('error' in task.outcome) throw task.outcome.error;
      pool.release(task.worker);
      report(task.seq, task.outcome.result, 'done');
      finished.set(task.seq, task.outcome.result);
    }
  } finally {
    await pool.close();
  }
}

/** Decompose many classes; resolves to the results in source order. See {@link decomposeClassesStream}. */
export async function decomposeClasses(source: ClassSource, options: ParallelOptions = {}): Promise<ClassDecomposition[]> {
  const out: ClassDecomposition[] = [];
  for await (const r of decomposeClassesStream(source, options)) out.push(r);
  return out;
}
