/**
 * Fixture for viewer tests: the explain fixture's model and network (10 classes, k = 3, real exemplar
 * pictures), with per-class build diagnostics planted in the manifest (known numbers the page and
 * /api/classes must show), and a raw HTTP helper that sends a path exactly as written (fetch would
 * normalise '..' away before it reaches the server).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { makeExplainFixture, type ExplainFixture } from '../explain/explain-fixture.ts';

/** The planted NMF relative error of class c. */
export const plantedNmfError = (c: number) => 0.0125 + c / 1000;
/** The planted part fidelity of prototype i of class c. */
export const plantedFidelity = (c: number, i: number) => 0.5 + c / 100 + i / 1000;
export const plantedImages = (c: number) => 20 + c;

export async function makeViewerFixture(root: string): Promise<ExplainFixture> {
  const fx = await makeExplainFixture(root);
  const file = join(fx.netDir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8'));
  manifest.classes = manifest.classNames.map((name: string, c: number) => {
    const fidelity = [0, 1, 2].map((i) => plantedFidelity(c, i));
    return {
      index: c,
      name,
      images: plantedImages(c),
      failed: 0,
      diagnostics: { nmfRelError: plantedNmfError(c), partFidelity: fidelity, meanPartFidelity: fidelity.reduce((a, b) => a + b) / 3, alpha: [1, 1, 1] },
    };
  });
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return fx;
}

/** GET `path` verbatim from a server URL; resolves with the status and body. */
export function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}
