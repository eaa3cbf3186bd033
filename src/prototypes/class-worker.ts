/**
 * Worker-thread entry of {@link decomposeClassesStream}: receives one class at a time (its F
 * transferred, not copied), decomposes it and posts the result back, transferring its arrays.
 */
import { parentPort } from 'node:worker_threads';
import { ProtolensError } from '../util/errors.ts';
import { releaseFeatureProductSessions } from './feature-products.ts';
import { decomposeClass, type ClassDecomposition, type ClassInput } from './decompose.ts';
import type { DecomposeOptions } from './options.ts';

/** A request from the pool. */
export interface WorkerRequest {
  seq: number;
  input: ClassInput;
  options: DecomposeOptions;
}

/** A reply to the pool. */
export type WorkerReply =
  | { seq: number; result: ClassDecomposition }
  | { seq: number; error: { name: string; message: string; exitCode: number | null; stack?: string } };

/** The distinct buffers behind a result's typed arrays (its transfer list). */
export function resultBuffers(r: ClassDecomposition): ArrayBuffer[] {
  const arrays = [r.initialPrototypes, r.alpha, r.residual, r.prototypes, r.residualTerm, r.diagnostics.partFidelity, r.diagnostics.partFidelityUniform, r.diagnostics.nmfShift];
  const set = new Set<ArrayBuffer>();
  for (const a of arrays) if (a && a.buffer instanceof ArrayBuffer) set.add(a.buffer);
  return [...set];
}

/** Sent by the pool when it is done: release the engine sessions and let the thread end. */
export const CLOSE_MESSAGE = 'protolens:close';

if (parentPort) {
  const port = parentPort;
  port.on('message', async (msg: WorkerRequest | typeof CLOSE_MESSAGE) => {
    if (msg === CLOSE_MESSAGE) {
      await releaseFeatureProductSessions();
      port.close();
      return;
    }
    try {
      const result = await decomposeClass(msg.input, msg.options);
      const reply: WorkerReply = { seq: msg.seq, result };
      port.postMessage(reply, resultBuffers(result));
    } catch (e) {
      const err = e as Error;
      const reply: WorkerReply = {
        seq: msg.seq,
        error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), exitCode: e instanceof ProtolensError ? e.exitCode : null, stack: err?.stack },
      };
      port.postMessage(reply);
    }
  });
}
