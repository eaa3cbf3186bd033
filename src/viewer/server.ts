/**
 * `startViewer`: a local HTTP server (node:http) over a network folder.
 *
 *   GET  /                      the page (gallery with class filter, explain form)
 *   GET  /api/manifest          the network's manifest.json
 *   GET  /api/classes           every class: diagnostics and prototypes with exemplar URLs
 *   POST /api/explain           body = the image bytes; header X-File-Name = its name (URI-encoded),
 *                               optional X-Class = the class to explain (URI-encoded; default: predicted);
 *                               200: { id, card, index, entry }; 400/413: { error }
 *   GET  /net/<path>            files of the network folder (exemplar patches, manifest, ...)
 *   GET  /results/<id>/<path>   the pictures and card of explanation <id>
 *   GET  /data/<path>           files of the dataset folder (only with `data`)
 *
 * Files are served only from inside those folders (see static-files.ts). One Explainer is opened at
 * start-up; explain requests run one at a time in arrival order.
 *
 *   const v = await startViewer({ net: 'net/' });
 *   console.log(v.url);
 *   await v.close();
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { pageClasses } from '../html/page-classes.ts';
import { readSanityReport, sanityView } from './sanity-report.ts';
import { readEvaluationReport } from '../evaluate/output/read-report.ts';
import type { PageClass } from '../html/page-data.ts';
import { Explainer, type ExplainerOptions } from '../explain/explain.ts';
import { safeStem } from '../explain/report.ts';
import { imageEntry, type ExplainedImageEntry } from '../explain/schema.ts';
import sharp from 'sharp';
import { maxDecodedPixels } from '../data/decode.ts';
import { InputError, ProtolensError, UsageError } from '../util/errors.ts';
import { checkedInteger } from '../util/options.ts';
import { galleryFragment, renderViewerPage } from './page.ts';
import { resolveInside, sendFile } from './static-files.ts';

/** Host bound by default: the loopback interface only. */
export const DEFAULT_VIEWER_HOST = '127.0.0.1';
/** Port by default: 0, a free port chosen by the system (the URL printed says which). */
export const DEFAULT_VIEWER_PORT = 0;
/** Largest accepted upload by default: 20 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
/** Explain requests being received or waiting at once, by default; more are answered 503 (memory stays bounded). */
export const DEFAULT_MAX_PENDING = 4;
/** Explanations (upload and pictures) kept by default; older ones of this session are removed. */
export const DEFAULT_KEEP_RESULTS = 200;
/** Image formats accepted for upload (sharp's names); SVG, PDF and the like are refused. */
export const UPLOAD_FORMATS = ['jpeg', 'png', 'webp', 'tiff', 'gif', 'heif'] as const;

export interface ViewerOptions {
  /** The network folder made by `protolens build`. */
  net: string;
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Dataset folder served read-only under /data/ (exemplar source images are relative to it). */
  data?: string;
  /** Folder for uploads and explanation pictures (default: a new temporary folder, removed on close). */
  results?: string;
  /** Largest accepted upload in bytes (default 20 MiB). */
  maxUploadBytes?: number;
  /** Explain requests received or queued at once (default 4); more get 503 with Retry-After. */
  maxPending?: number;
  /** Explanations kept in the results folder (default 200); the oldest of this session are removed. */
  keepResults?: number;
  /** Options of the Explainer (model, threads, top, percentile, tolerance). */
  explainer?: Pick<ExplainerOptions, 'model' | 'threads' | 'top' | 'percentile' | 'tolerance'>;
  /** Picture scale of overlays and combined views (default 'auto', see explain's PictureOptions). */
  scale?: number | 'auto';
  /**
   * An evaluation of this network (the folder `protolens evaluate --out` wrote, or its
   * evaluation.json): the gallery then shows each prototype's part and stability and each class's
   * distinctiveness and comprehensiveness.
   */
  evaluation?: string;
  /**
   * A model-randomisation sanity check of this network (the folder `protolens sanity --out` wrote, or
   * its randomisation.json): the page then shows its scores.
   */
  sanity?: string;
}

export interface Viewer {
  /** http://host:port/ */
  url: string;
  /** Absolute folder where uploads and results are written. */
  resultsDir: string;
  /** Stop accepting connections, wait for running requests, release the model session, remove a temporary results folder. */
  close(): Promise<void>;
}

/** A class as GET /api/classes returns it. */
export interface ClassJson {
  index: number;
  name: string;
  /** Training images whose features built the prototypes (0 when the manifest does not record it). */
  images: number;
  diagnostics: PageClass['diagnostics'];
  prototypes: {
    index: number;
    partFidelity: number | null;
    alpha: number | null;
    /** Exemplar patches best first; crop and context are URLs on this server. */
    exemplars: { image: string; score: number; crop: string; context: string }[];
  }[];
}

/** The JSON of POST /api/explain. */
export interface ExplainResponse {
  /** Id of this explanation (its folder under /results/). */
  id: string;
  /** URL of the card (HTML). */
  card: string;
  /** URL of the explanation's index.html. */
  index: string;
  /** The explanation document's image entry (schema protolens.explanation v1; picture paths relative to /results/<id>/). */
  entry: ExplainedImageEntry;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-cache' });
  res.end(text);
}

/**
 * The page, gzip-compressed when the client accepts it (rendered and compressed once at start-up: for
 * 1000 classes x k = 10 the HTML is about 17 MB, mostly repeated markup).
 */
function sendPage(req: IncomingMessage, res: ServerResponse, page: { html: string; gzip: Buffer }): void {
  const accepts = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (!accepts) return sendText(res, 200, page.html, 'text/html; charset=utf-8');
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding', 'Content-Length': String(page.gzip.length), 'Cache-Control': 'no-cache' });
  res.end(page.gzip);
}

function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-cache' });
  res.end(text);
}

/** Read a request body up to `limit` bytes (413 beyond). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `upload of ${declared} bytes exceeds the limit of ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `upload exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolveBody(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/**
 * The upload's file name from X-File-Name (URI-encoded): `name` as sent (its last path segment, for
 * the JSON) and `file`, a safe stem plus extension for the file written.
 */
export function uploadName(header: string | string[] | undefined): { name: string; file: string } {
  let name = typeof header === 'string' && header !== '' ? header : 'upload';
  try {
    name = decodeURIComponent(name);
  } catch {
    throw new HttpError(400, 'X-File-Name: not a valid URI-encoded file name');
  }
  name = basename(name.replace(/\\/g, '/')) || 'upload';
  const ext = extname(name).toLowerCase();
  return { name, file: `${safeStem(name)}${/^\.[a-z0-9]{1,5}$/.test(ext) ? ext : ''}` };
}

/**
 * Start the viewer over the network folder `opts.net`: opens the network and its model (the same
 * checks as `protolens explain`), renders the page, and listens.
 * @throws InputError when the network, its model or the data folder cannot be used; UsageError for
 *   a bad port or upload limit.
 */
export async function startViewer(opts: ViewerOptions): Promise<Viewer> {
  const port = opts.port ?? DEFAULT_VIEWER_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`port: expected an integer in [0, 65535], got ${port}`);
  const host = opts.host ?? DEFAULT_VIEWER_HOST;
  const maxUpload = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  if (!(Number.isInteger(maxUpload) && maxUpload > 0)) throw new UsageError(`maxUploadBytes: expected a positive integer, got ${maxUpload}`);
  const maxPending = checkedInteger('maxPending', opts.maxPending ?? DEFAULT_MAX_PENDING, 1, 1000, UsageError);
  const keepResults = checkedInteger('keepResults', opts.keepResults ?? DEFAULT_KEEP_RESULTS, 1, Number.MAX_SAFE_INTEGER, UsageError);
  const netDir = resolve(opts.net);
  const dataDir = opts.data !== undefined ? resolve(opts.data) : null;
  if (dataDir !== null && !(await stat(dataDir).catch(() => null))?.isDirectory()) throw new InputError(`--data ${opts.data}: not a folder`);

  const ex = await Explainer.open(netDir, opts.explainer ?? {});
  let resultsDir: string;
  let ownResults = false;
  try {
    if (opts.results !== undefined) {
      resultsDir = resolve(opts.results);
      await mkdir(resultsDir, { recursive: true });
    } else {
      resultsDir = await mkdtemp(join(tmpdir(), 'protolens-view-'));
      ownResults = true;
    }
  } catch (e) {
    await ex.close();
    throw new InputError(`results folder ${opts.results}: ${(e as Error).message}`);
  }
  try {
    return await serve(opts, ex, netDir, dataDir, resultsDir, ownResults, port, host, maxUpload, maxPending, keepResults);
  } catch (e) {
    await ex.close();
    if (ownResults) await rm(resultsDir, { recursive: true, force: true });
    throw e;
  }
}

/** Whether `host` names this machine's loopback interface (then requests must say so in Host). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function serve(
  opts: ViewerOptions,
  ex: Explainer,
  netDir: string,
  dataDir: string | null,
  resultsDir: string,
  ownResults: boolean,
  port: number,
  host: string,
  maxUpload: number,
  maxPending: number,
  keepResults: number,
): Promise<Viewer> {
  const uploadsDir = join(resultsDir, 'uploads');
  const explanationsDir = join(resultsDir, 'explanations');
  await mkdir(uploadsDir, { recursive: true });
  await mkdir(explanationsDir, { recursive: true });

  const manifest = ex.network.manifest;
  const report = opts.evaluation !== undefined ? await readEvaluationReport(opts.evaluation, { classes: ex.network.numClasses, k: ex.network.k }) : null;
  const sanity = opts.sanity !== undefined ? sanityView(await readSanityReport(opts.sanity, ex.network.dir), null) : null;
  const classes = pageClasses({
    classNames: manifest.classNames,
    k: ex.network.k,
    manifestClasses: manifest.classes,
    exemplars: ex.exemplars,
    networkPrefix: 'net',
    classTable: null,
    perClassTest: [],
    report,
  });
  const html = renderViewerPage({
    title: 'protolens viewer',
    networkLabel: netDir,
    k: ex.network.k,
    perPrototype: ex.exemplars?.perPrototype ?? 0,
    classes,
    maxUploadBytes: maxUpload,
    sanity,
  });
  const page = { html, gzip: gzipSync(html) };
  const classesJson: ClassJson[] = classes.map((c) => ({
    index: c.index,
    name: c.name,
    images: c.trainImages,
    diagnostics: c.diagnostics,
    prototypes: c.prototypes.map((p) => ({
      index: p.index,
      partFidelity: p.partFidelity,
      alpha: p.alpha,
      exemplars: p.exemplars.map((e) => ({ image: e.image, score: e.score, crop: `/${e.crop}`, context: `/${e.context}` })),
    })),
  }));

  /** The class named by X-Class (URI-encoded, exact name); an unknown name is a 400 listing the closest. */
  const requestedClass = (header: string | string[] | undefined): number | undefined => {
    if (header === undefined || header === '') return undefined;
    let name: string;
    try {
      name = decodeURIComponent(Array.isArray(header) ? header[0] : header);
    } catch {
      throw new HttpError(400, 'X-Class: not a valid URI-encoded class name');
    }
    try {
      return ex.classOf(name);
    } catch (e) {
      throw new HttpError(400, `X-Class: ${(e as Error).message}`);
    }
  };

  let counter = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const prefix = `${Date.now().toString(36)}`;
  let pending = 0;
  /** Explanations of this session, oldest first: [id, upload file]. */
  const kept: [string, string][] = [];
  const forget = async (id: string, upload: string) => {
    await rm(join(explanationsDir, id), { recursive: true, force: true });
    await rm(upload, { force: true });
  };

  const explain = async (req: IncomingMessage): Promise<ExplainResponse> => {
    if (pending >= maxPending) throw new HttpError(503, `busy: ${pending} explanations are being received or waiting; retry in a moment`);
    pending++;
    try {
      return await explainOne(req);
    } finally {
      pending--;
    }
  };

  const explainOne = async (req: IncomingMessage): Promise<ExplainResponse> => {
    const { name, file } = uploadName(req.headers['x-file-name']);
    const classIndex = requestedClass(req.headers['x-class']);
    const body = await readBody(req, maxUpload);
    if (body.length === 0) throw new HttpError(400, 'empty upload: send the image bytes as the request body');
    const meta = await sharp(body, { limitInputPixels: false }).metadata().catch(() => null);
    if (!meta?.format || !(UPLOAD_FORMATS as readonly string[]).includes(meta.format)) {
      throw new HttpError(415, `${name}: not an image of an accepted format (${UPLOAD_FORMATS.join(', ')})${meta?.format ? `; it is ${meta.format}` : ''}`);
    }
    if (meta.width && meta.height && meta.width * meta.height > maxDecodedPixels()) {
      throw new HttpError(413, `${name}: ${meta.width} x ${meta.height} = ${meta.width * meta.height} pixels, more than the limit of ${maxDecodedPixels()} (PROTOLENS_MAX_PIXELS)`);
    }
    const id = `${prefix}-${String(++counter).padStart(4, '0')}`;
    const upload = join(uploadsDir, `${id}-${file}`);
    await writeFile(upload, body);
    const out = join(explanationsDir, id);
    const run = async (): Promise<ExplainResponse> => {
      let last: ExplainResponse | null = null;
      for await (const r of ex.explainImages([upload], { out, scale: opts.scale ?? 'auto', ...(classIndex !== undefined ? { classIndex } : {}) })) {
        if (r.status === 'failed') throw new HttpError(400, `${name}: ${r.reason}`);
        const entry = imageEntry(r, { heatmaps: false }) as ExplainedImageEntry;
        entry.image = name;
        const card = entry.pictures!.card.split('/').map(encodeURIComponent).join('/');
        last = { id, card: `/results/${id}/${card}`, index: `/results/${id}/index.html`, entry };
      }
      if (!last) throw new HttpError(500, 'no explanation was produced');
      return last;
    };
    const job = queue.then(run, run);
    queue = job.catch(() => undefined);
    try {
      const r = await job;
      kept.push([id, upload]);
      while (kept.length > keepResults) {
        const [oldId, oldUpload] = kept.shift()!;
        await forget(oldId, oldUpload);
      }
      return r;
    } catch (e) {
      await forget(id, upload); // nothing to look at: keep no bytes of it
      throw e;
    }
  };

  // Bound to loopback, only requests addressed to loopback are answered: a web page elsewhere whose
  // name resolves to 127.0.0.1 (DNS rebinding) sends its own name in Host and is refused.
  let allowedHosts: Set<string> | null = null;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (allowedHosts && !allowedHosts.has(String(req.headers.host ?? '').toLowerCase())) {
      throw new HttpError(403, `Host '${String(req.headers.host ?? '')}' is not this viewer's address; open ${[...allowedHosts][0]}`);
    }
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const method = req.method ?? 'GET';
    const getOnly = () => {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} ${path}: only GET is allowed`);
    };
    if (path === '/api/explain') {
      if (method !== 'POST') throw new HttpError(405, 'POST /api/explain: send the image bytes as the body of a POST');
      sendJson(res, 200, await explain(req));
      return;
    }
    getOnly();
    if (path === '/' || path === '/index.html') return sendPage(req, res, page);
    if (path === '/api/manifest') return sendJson(res, 200, manifest);
    if (path === '/api/classes') return sendJson(res, 200, classesJson);
    const fragment = /^\/gallery\/(\d{1,9})\.html$/.exec(path);
    if (fragment) {
      const c = classes[Number(fragment[1])];
      if (!c) throw new HttpError(404, `${path}: no such class`);
      return sendText(res, 200, galleryFragment(c), 'text/html; charset=utf-8');
    }
    const served: [string, string | null][] = [
      ['/net/', netDir],
      ['/results/', explanationsDir],
      ['/data/', dataDir],
    ];
    for (const [route, root] of served) {
      if (root === null || !path.startsWith(route)) continue;
      const file = await resolveInside(root, path.slice(route.length));
      if (file === null) throw new HttpError(404, `${path}: not found`);
      const st = await stat(file);
      // Network and dataset files are not protolens's: never run them in the viewer's origin.
      return sendFile(res, file, st.size, { untrusted: route !== '/results/' });
    }
    throw new HttpError(404, `${path}: not found`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      let status = 500;
      let message = (e as Error)?.message ?? String(e);
      if (e instanceof HttpError) status = e.status;
      else if (e instanceof UsageError || e instanceof InputError) status = 400;
      else if (e instanceof ProtolensError) status = 500;
      else message = `internal error: ${message}`;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 503) res.setHeader('Retry-After', '2');
      if (req.url?.startsWith('/api/')) sendJson(res, status, { error: message });
      else sendText(res, status, `${status}: ${message}\n`);
      // Drain an unread upload so the connection can answer.
      req.resume();
    });
  });
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (e) {
    throw new InputError(`cannot listen on ${host}:${port}: ${(e as Error).message}`);
  }
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  if (isLoopback(host)) allowedHosts = new Set([`${urlHost}:${addr.port}`, `localhost:${addr.port}`, `127.0.0.1:${addr.port}`, `[::1]:${addr.port}`]);
  let closed: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${addr.port}/`,
    resultsDir,
    close() {
      closed ??= (async () => {
        await new Promise<void>((ok) => {
          server.close(() => ok());
          server.closeIdleConnections();
        });
        await queue;
        await ex.close();
        if (ownResults) await rm(resultsDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
