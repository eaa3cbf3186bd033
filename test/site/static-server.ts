// A plain static file server for site tests: serves one folder over loopback HTTP, as any static host
// would, optionally with the cross-origin isolation headers (COOP/COEP) that let the page use threads.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveInside, sendFile } from '../../src/viewer/static-files.ts';

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** `cache`: let the browser keep files for an hour (as static hosts do), instead of revalidating each time. */
export async function serveFolder(dir: string, opts: { isolated?: boolean; cache?: boolean } = {}): Promise<StaticServer> {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (opts.isolated) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    const file = await resolveInside(dir, path === '/' ? 'index.html' : path.slice(1));
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    sendFile(res, file, undefined, opts.cache ? { cacheControl: 'public, max-age=3600' } : {});
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
