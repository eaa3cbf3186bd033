// The viewer's HTTP server on a real network and model: the page, the JSON API, explaining an
// uploaded PNG (checked against an independent run of the model), bad uploads, and path traversal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadImage } from '../../src/data/load.ts';
import { loadClassifier } from '../../src/model/classifier.ts';
import { startViewer, type ClassJson, type ExplainResponse, type Viewer } from '../../src/viewer/server.ts';
import { CLASS_NAMES, K, SIZE, imageBytes, type ExplainFixture } from '../explain/explain-fixture.ts';
import { makeViewerFixture, plantedFidelity, plantedImages, plantedNmfError, rawGet } from './viewer-fixture.ts';

let root: string;
let fx: ExplainFixture;
let viewer: Viewer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-viewer-'));
  fx = await makeViewerFixture(root);
  // A link inside the network folder pointing outside it must not be followed out.
  await symlink(fx.modelPath, join(fx.netDir, 'escape.onnx'));
  viewer = await startViewer({ net: fx.netDir, port: 0, maxUploadBytes: 256 * 1024, data: join(root, 'train') });
});

after(async () => {
  await viewer?.close();
  await rm(root, { recursive: true, force: true });
});

const post = (bytes: Uint8Array, name: string) =>
  fetch(new URL('api/explain', viewer.url), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'X-File-Name': encodeURIComponent(name) }, body: new Blob([new Uint8Array(bytes)]) });

test('the page is sent gzip-compressed to clients that accept it, plain to the others, with the same HTML', async () => {
  const { request } = await import('node:http');
  const { gunzipSync } = await import('node:zlib');
  const u = new URL(viewer.url);
  const zipped = await new Promise<{ encoding: string | undefined; body: Buffer }>((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path: '/', headers: { 'Accept-Encoding': 'gzip, deflate' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => ok({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });
  const plain = await rawGet(viewer.url, '/');
  assert.equal(plain.status, 200);
  assert.equal(zipped.encoding, 'gzip');
  assert.ok(zipped.body.length < Buffer.byteLength(plain.body), 'compressed is smaller');
  assert.equal(gunzipSync(zipped.body).toString('utf8'), plain.body);
});

test('binds to the loopback interface on a free port by default', () => {
  assert.match(viewer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.notEqual(new URL(viewer.url).port, '0');
});

test('the page lists every class with its diagnostics, and refers only to this server', async () => {
  const res = await fetch(viewer.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  for (const [c, name] of CLASS_NAMES.entries()) {
    assert.ok(html.includes(`id="class-${c}"`), `class ${name} has its card`);
    const line = new RegExp(`data-class="${c}">.*?NMF error ${plantedNmfError(c).toFixed(4)}.*?fidelity ${((plantedFidelity(c, 0) + plantedFidelity(c, 1) + plantedFidelity(c, 2)) / 3).toFixed(3)}.*?${plantedImages(c)} images`);
    assert.match(html, line, `diagnostics of class ${c}`);
  }
  assert.equal((html.match(/<article class="cls"/g) ?? []).length, CLASS_NAMES.length);
  assert.equal((html.match(/class="pchip"/g) ?? []).length, CLASS_NAMES.length * K);
  assert.ok(!html.includes('no test images'));
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external resources');
  // Every image reference is served.
  const srcs = [...html.matchAll(/<img [^>]*src="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
  assert.equal(srcs.length, CLASS_NAMES.length * K * 3); // one context + two crops per prototype
  for (const s of new Set(srcs)) {
    const r = await fetch(new URL(s, viewer.url));
    assert.equal(r.status, 200, s);
    assert.equal(r.headers.get('content-type'), 'image/webp');
    const bytes = Buffer.from(await r.arrayBuffer());
    assert.equal(bytes.subarray(8, 12).toString(), 'WEBP', `${s} is a WebP picture`);
  }
});

test('GET /api/manifest returns the manifest on disk', async () => {
  const res = await fetch(new URL('api/manifest', viewer.url));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), JSON.parse(await readFile(join(fx.netDir, 'manifest.json'), 'utf8')));
});

test('GET /api/classes: planted diagnostics and the exemplar index, with URLs that serve the files', async () => {
  const res = await fetch(new URL('api/classes', viewer.url));
  assert.equal(res.status, 200);
  const classes = (await res.json()) as ClassJson[];
  assert.deepEqual(classes.map((c) => c.name), CLASS_NAMES);
  const index = JSON.parse(await readFile(join(fx.netDir, 'exemplars', 'index.json'), 'utf8'));
  for (const c of classes) {
    assert.equal(c.images, plantedImages(c.index));
    assert.equal(c.diagnostics.nmfRelError, plantedNmfError(c.index));
    assert.equal(c.prototypes.length, K);
    const listed = index.classes.find((x: { index: number }) => x.index === c.index);
    for (const p of c.prototypes) {
      assert.equal(p.partFidelity, plantedFidelity(c.index, p.index));
      assert.deepEqual(p.exemplars.map((e) => e.crop), listed.prototypes[p.index].map((e: { crop: string }) => `/net/${e.crop}`));
      assert.deepEqual(p.exemplars.map((e) => e.score), listed.prototypes[p.index].map((e: { score: number }) => e.score));
    }
  }
  const crop = classes[3].prototypes[1].exemplars[0].crop;
  const served = Buffer.from(await (await fetch(new URL(crop, viewer.url))).arrayBuffer());
  assert.deepEqual(served, await readFile(join(fx.netDir, crop.slice('/net/'.length))));
});

test('POST /api/explain: a real PNG; contributions + bias = logit of an independent model run; the card is served', async () => {
  const png = await imageBytes(901, 44, 36, 'png');
  const res = await post(png, 'my bird.png');
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as ExplainResponse;
  const e = body.entry.explained;
  assert.equal(body.entry.status, 'ok');
  assert.equal(body.entry.image, 'my bird.png');
  assert.equal(e.prototypes.length, K);
  // The model on its own, through onnxruntime, on the same bytes.
  const clf = await loadClassifier(fx.modelPath, { inputSize: SIZE });
  const path = join(root, 'check.png');
  await writeFile(path, png);
  const { tensor } = await loadImage({ id: 'check', path }, fx.preprocess);
  const { logits } = await clf.run(tensor, 1);
  await clf.close();
  let best = 0;
  for (let c = 1; c < logits.length; c++) if (logits[c] > logits[best]) best = c;
  assert.equal(e.index, best, 'the predicted class is explained');
  assert.ok(Math.abs(e.logit - logits[best]) <= 1e-5 * Math.max(1, Math.abs(logits[best])));
  const sum = e.prototypes.reduce((a, p) => a + p.contribution, 0) + e.bias;
  assert.ok(Math.abs(sum - logits[best]) <= 1e-4 * Math.max(1, Math.abs(logits[best])), `sum ${sum} vs logit ${logits[best]}`);
  // The card and its pictures.
  assert.match(body.card, new RegExp(`^/results/${body.id}/.+/card\\.html$`));
  const card = await fetch(new URL(body.card, viewer.url));
  assert.equal(card.status, 200);
  assert.match(card.headers.get('content-type') ?? '', /text\/html/);
  const html = await card.text();
  assert.ok(html.includes(CLASS_NAMES[best]));
  for (const m of html.matchAll(/<img [^>]*src="([^"]+)"/g)) {
    const r = await fetch(new URL(m[1], new URL(body.card, viewer.url)));
    assert.equal(r.status, 200, `card picture ${m[1]}`);
  }
  assert.equal((await fetch(new URL(body.index, viewer.url))).status, 200);
});

test('POST /api/explain with X-Class explains that class; an unknown class is a 400 naming the closest', async () => {
  const png = await imageBytes(902, 44, 36, 'png');
  const clf = await loadClassifier(fx.modelPath, { inputSize: SIZE });
  const path = join(root, 'check-class.png');
  await writeFile(path, png);
  const { logits } = await clf.run((await loadImage({ id: 'c', path }, fx.preprocess)).tensor, 1);
  await clf.close();
  let worst = 0;
  for (let c = 1; c < logits.length; c++) if (logits[c] < logits[worst]) worst = c;
  const send = (cls: string) =>
    fetch(new URL('api/explain', viewer.url), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'X-File-Name': 'a.png', 'X-Class': encodeURIComponent(cls) }, body: new Blob([new Uint8Array(png)]) });
  const res = await send(CLASS_NAMES[worst]);
  assert.equal(res.status, 200, await res.clone().text());
  const e = ((await res.json()) as ExplainResponse).entry.explained;
  assert.equal(e.index, worst, 'the requested (least likely) class is explained');
  assert.ok(Math.abs(e.logit - logits[worst]) <= 1e-5 * Math.max(1, Math.abs(logits[worst])));
  const sum = e.prototypes.reduce((a, p) => a + p.contribution, 0) + e.bias;
  assert.ok(Math.abs(sum - logits[worst]) <= 1e-4 * Math.max(1, Math.abs(logits[worst])));
  const typo = CLASS_NAMES[worst].slice(0, -1) + '#';
  const bad = await send(typo);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, new RegExp(`^X-Class: .*${CLASS_NAMES[worst].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('bad uploads get 400/413/415/405 with the reason, and the server stays up', async () => {
  const garbage = await post(Buffer.from('definitely not an image, just text'), 'photo.jpg');
  assert.equal(garbage.status, 415);
  const g = (await garbage.json()) as { error: string };
  assert.match(g.error, /^photo\.jpg: /);
  assert.ok(g.error.length > 'photo.jpg: '.length);
  const empty = await post(new Uint8Array(0), 'x.png');
  assert.equal(empty.status, 400);
  assert.match(((await empty.json()) as { error: string }).error, /empty upload/);
  const big = await post(new Uint8Array(300 * 1024), 'big.png');
  assert.equal(big.status, 413);
  const get = await fetch(new URL('api/explain', viewer.url));
  assert.equal(get.status, 405);
  const up = await fetch(new URL('api/classes', viewer.url));
  assert.equal(up.status, 200);
  const again = await post(await imageBytes(902, 32, 32, 'jpeg'), 'again.jpg');
  assert.equal(again.status, 200);
});

test('path traversal and links out of the served folders are refused', async () => {
  assert.equal((await stat(fx.modelPath)).isFile(), true);
  const attempts = [
    '/net/../model.onnx',
    '/net/%2e%2e/model.onnx',
    '/net/..%2fmodel.onnx',
    '/net/exemplars/../../model.onnx',
    '/net/..%5cmodel.onnx',
    '/net/escape.onnx',
    '/results/../net/manifest.json',
    '/results/%2e%2e/uploads',
    '/data/../model.onnx',
    '/net//etc/passwd',
    '/net/%00',
    '/../model.onnx',
    '/model.onnx',
  ];
  for (const path of attempts) {
    const r = await rawGet(viewer.url, path);
    assert.ok(r.status === 404 || r.status === 403, `${path} -> ${r.status}`);
    assert.ok(r.body.startsWith(`${r.status}: `), `${path}: answered with an error message, not content`);
  }
  // Legitimate files next to them are served.
  assert.equal((await rawGet(viewer.url, '/net/manifest.json')).status, 200);
  assert.equal((await rawGet(viewer.url, '/data/t0.png')).status, 200);
});

/** A GET with a chosen Host header (fetch sets its own). */
function getWithHost(base: string, path: string, host: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return import('node:http').then(
    ({ request }) =>
      new Promise((ok, fail) => {
        const u = new URL(base);
        const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers: { Host: host } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', fail);
        req.end();
      }),
  );
}

test('DNS rebinding: a request whose Host is not this loopback address is refused (403); localhost and 127.0.0.1 are answered', async () => {
  const port = new URL(viewer.url).port;
  assert.equal((await getWithHost(viewer.url, '/api/classes', `evil.example:${port}`)).status, 403);
  assert.equal((await getWithHost(viewer.url, '/api/classes', `127.0.0.1:${Number(port) + 1}`)).status, 403);
  assert.equal((await getWithHost(viewer.url, '/api/classes', `localhost:${port}`)).status, 200);
  assert.equal((await getWithHost(viewer.url, '/api/classes', `127.0.0.1:${port}`)).status, 200);
});

test('an SVG upload is refused (415) and an SVG or HTML file of the dataset is served sandboxed, as a download', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><script>alert(1)</script><rect width="32" height="32"/></svg>');
  const r = await post(svg, 'pic.svg');
  assert.equal(r.status, 415);
  assert.match(((await r.json()) as { error: string }).error, /not an image of an accepted format .*; it is svg/);
  await writeFile(join(root, 'train', 'page.svg'), svg);
  await writeFile(join(root, 'train', 'page.html'), '<script>alert(1)</script>');
  for (const f of ['page.svg', 'page.html']) {
    const res = await fetch(new URL(`data/${f}`, viewer.url));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), 'attachment', f);
    assert.equal(res.headers.get('content-security-policy'), 'sandbox', f);
  }
  const card = await fetch(new URL('/', viewer.url));
  assert.equal(card.headers.get('content-disposition'), null, 'the viewer\'s own page is a page');
});

test('uploads are bounded: beyond maxPending at once the answer is 503 with Retry-After; only keepResults explanations are kept', async () => {
  const v = await startViewer({ net: fx.netDir, port: 0, maxPending: 1, keepResults: 2 });
  try {
    const send = (bytes: Uint8Array, name: string) =>
      fetch(new URL('api/explain', v.url), { method: 'POST', headers: { 'X-File-Name': name }, body: new Blob([new Uint8Array(bytes)]) });
    const img = await imageBytes(903, 32, 32, 'png');
    const results = await Promise.all([send(img, 'a.png'), send(img, 'b.png'), send(img, 'c.png')]);
    const statuses = results.map((r) => r.status).sort();
    assert.ok(statuses.includes(200) && statuses.includes(503), `statuses ${statuses}`);
    const busy = results.find((r) => r.status === 503)!;
    assert.equal(busy.headers.get('retry-after'), '2');
    assert.match(((await busy.json()) as { error: string }).error, /busy/);
    for (const name of ['d.png', 'e.png', 'f.png']) assert.equal((await send(img, name)).status, 200);
    const { readdir } = await import('node:fs/promises');
    assert.equal((await readdir(join(v.resultsDir, 'explanations'))).length, 2, 'the oldest explanations were removed');
    assert.equal((await readdir(join(v.resultsDir, 'uploads'))).length, 2);
    // A failed explanation keeps nothing.
    assert.equal((await send(img.subarray(0, img.length - 20), 'truncated.png')).status, 400); // a header that reads, pixels that do not
    assert.equal((await readdir(join(v.resultsDir, 'uploads'))).length, 2);
  } finally {
    await v.close();
  }
});

test('a viewer that fails to start removes its temporary folder', async () => {
  const { readdir } = await import('node:fs/promises');
  const before = (await readdir(tmpdir())).filter((f) => f.startsWith('protolens-view-'));
  const busyPort = Number(new URL(viewer.url).port);
  await assert.rejects(startViewer({ net: fx.netDir, port: busyPort }), /cannot listen/);
  const after = (await readdir(tmpdir())).filter((f) => f.startsWith('protolens-view-'));
  assert.deepEqual(after.sort(), before.sort());
});
