/** Worker-thread entry of resize-pool.ts: resizes with the same code as the main thread. */
import { parentPort } from 'node:worker_threads';
import { resizeRgbSync } from './resize.ts';
import type { ResizeReply, ResizeRequest } from './resize-pool.ts';

parentPort!.on('message', (m: ResizeRequest) => {
  let reply: ResizeReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const out = resizeRgbSync({ data: new Uint8Array(m.data), width: m.width, height: m.height }, m.outWidth, m.outHeight, m.interpolation);
    const data = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength ? out.data : out.data.slice();
    reply = { id: m.id, data: data.buffer as ArrayBuffer };
    transfer = [reply.data];
  } catch (e) {
    reply = { id: m.id, error: (e as Error).message };
  }
  parentPort!.postMessage(reply, transfer);
});
