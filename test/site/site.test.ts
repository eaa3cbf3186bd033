// The static site: written by writeSite, served by a plain static server, used in headless Chromium
// as a visitor would (file input, class picker); its numbers checked against `protolens explain` in
// Node on the same files, its requests and console checked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { decodeForDisplay } from '../../src/data/load.ts';
import { explainImages, type ImageExplanation, type ImageResult } from '../../src/explain/explain.ts';
import { writeSite, type SiteResult } from '../../src/site/write-site.ts';
import { SITE_ORT_FILES, SITE_SCHEMA, type SiteData } from '../../src/site/site-data.ts';
import { SITE_CSP } from '../../src/viewer/page.ts';
import { CLASS_NAMES, type ExplainFixture } from '../explain/explain-fixture.ts';
import { openBrowser, type BrowserSession } from '../helpers/browser.ts';
import { makeViewerFixture } from '../viewer/viewer-fixture.ts';
import { serveFolder, type StaticServer } from './static-server.ts';

let root: string;
let fx: ExplainFixture;
let site: SiteResult;
let server: StaticServer;
let browser: BrowserSession;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-site-'));
  fx = await makeViewerFixture(root);
  site = await writeSite({ net: fx.netDir, out: join(root, 'site') });
  server = await serveFolder(site.dir);
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

async function nodeExplain(images: string[], classIndex?: number, net = fx.netDir): Promise<ImageExplanation[]> {
  const out: ImageExplanation[] = [];
  for await (const r of explainImages(net, images, { keepRgb: true, ...(classIndex !== undefined ? { classIndex } : {}) }) as AsyncGenerator<ImageResult>) {
    assert.equal(r.status, 'ok', JSON.stringify(r));
    out.push(r as ImageExplanation);
  }
  return out;
}

/** |a - b| / max(1, |b|) over two lists. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
}

/** Upload a file through the page's file input and wait for its explanation (or its error). */
async function upload(file: string, className = ''): Promise<{ last: Awaited<ReturnType<typeof lastOf>>; input: number[] }> {
  const { page } = browser;
  await page.fill('#class', className);
  await page.evaluate(() => (window.protolensSite.last = null));
  await page.setInputFiles('#file', file);
  await page.waitForFunction(() => window.protolensSite.last !== null || document.getElementById('status')!.className === 'error', null, { timeout: 30_000 });
  const last = await lastOf();
  const input = await page.evaluate(() => Array.from(window.protolensSite.lastInput?.data ?? []));
  return { last, input };
}
const lastOf = () => browser.page.evaluate(() => window.protolensSite.last);

test('writeSite: a self-contained folder with the explained model, onnxruntime-web and the exemplars', async () => {
  const names = (await readdir(site.dir)).sort();
  assert.deepEqual(names, ['.protolens-output', 'exemplars', 'index.html', 'model.onnx', 'ort', 'site-app.js', 'site.json']);
  assert.deepEqual((await readdir(join(site.dir, 'ort'))).sort(), [...SITE_ORT_FILES].sort());
  const data = JSON.parse(await readFile(join(site.dir, 'site.json'), 'utf8')) as SiteData;
  assert.equal(data.schema, SITE_SCHEMA);
  assert.deepEqual(data.classNames, CLASS_NAMES);
  assert.equal(data.k, 3);
  assert.equal(data.model.sha256.length, 64);
  assert.equal((await stat(join(site.dir, 'model.onnx'))).size, data.model.bytes);
  // every exemplar the page or a card names is in the site
  const listed = data.exemplars.flat(2).flatMap((e) => [e.crop, e.context]);
  assert.ok(listed.length > 0);
  for (const rel of listed) assert.ok((await stat(join(site.dir, rel))).isFile(), rel);
  const html = await readFile(join(site.dir, 'index.html'), 'utf8');
  assert.ok(html.includes(`content="${SITE_CSP.replace(/'/g, '&#39;')}"`) || html.includes(SITE_CSP), 'the page carries its Content-Security-Policy');
  assert.ok(html.includes('<script type="module" src="site-app.js"></script>'));
  assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')), 'the page names no outside address');
  assert.ok(site.bytes > 14e6 && site.bytes < 20e6, `site of ${site.bytes} bytes (the wasm binary is about 14 MB)`);
});

test('writeSite refuses folders it must not write into, and rewrites its own', async () => {
  const foreign = join(root, 'mine');
  await mkdir(foreign);
  await writeFile(join(foreign, 'notes.txt'), 'keep');
  await assert.rejects(writeSite({ net: fx.netDir, out: foreign }), /not empty and is not a protolens site folder/);
  assert.equal(await readFile(join(foreign, 'notes.txt'), 'utf8'), 'keep');
  await assert.rejects(writeSite({ net: fx.netDir, out: join(fx.netDir, 'site') }), /inside network/);
  await assert.rejects(writeSite({ net: fx.netDir, out: join(root, 'other-site'), percentile: 101 }), /percentile: expected a finite number from 0 to 100, got 101/);
  // an earlier site is replaced, with nothing left of it that the new one does not write
  await writeSite({ net: fx.residualNetDir, out: join(root, 'other-site') });
  const again = await writeSite({ net: fx.netDir, out: join(root, 'other-site') });
  assert.equal(again.files, site.files);
  assert.deepEqual(JSON.parse(await readFile(join(root, 'other-site', 'site.json'), 'utf8')).model.sha256, site.model.sha256);
});

test('in Chromium: a PNG is preprocessed exactly as in Node and explained with the same numbers', async () => {
  const { page, requests } = browser;
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(server.url);
  const ready = await page.evaluate(() => window.protolensSite.ready);
  assert.equal(ready.threads, 1, 'no cross-origin isolation: one thread');
  assert.equal(await page.$$eval('.gallery .cls', (c) => c.length), CLASS_NAMES.length);

  const png = fx.images.find((f) => f.endsWith('.png'))!;
  const [ref] = await nodeExplain([png]);
  const { last, input } = await upload(png);
  assert.ok(last, (await page.textContent('#status')) ?? '');
  assert.deepEqual(input, Array.from(ref.rgb!.data), 'the preprocessed pixels are identical');
  assert.ok(maxRel(last.logits, ref.logits) <= 1e-4, `logits: ${maxRel(last.logits, ref.logits)}`);
  assert.equal(last.explainedClass, ref.explained.index);
  assert.ok(maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)) <= 1e-4);
  assert.ok(Math.abs(last.bias - ref.explained.bias) <= 1e-6);
  // the invariant in the browser's own numbers
  assert.ok(Math.abs(last.contributions.reduce((a, b) => a + b, 0) + last.bias - last.logits[last.explainedClass]) <= 1e-4 * Math.max(1, Math.abs(last.logits[last.explainedClass])));

  // the card in the frame: heading, one section per prototype, every picture loads
  const frame = page.frameLocator('#card');
  assert.equal(await frame.locator('h1').textContent(), `Why \u201c${CLASS_NAMES[ref.explained.index]}\u201d?`);
  assert.equal(await frame.locator('article.proto').count(), 3);
  const widths = await frame.locator('img').evaluateAll(async (imgs) => {
    await Promise.all((imgs as HTMLImageElement[]).map((i) => (i.complete ? null : new Promise((r) => { i.onload = r; i.onerror = r; }))));
    return (imgs as HTMLImageElement[]).map((i) => i.naturalWidth);
  });
  assert.ok(widths.length >= 2 + 3 && widths.every((w) => w > 0), `card pictures: ${widths}`);
  assert.match((await page.textContent('#status')) ?? '', /Logit .* = .* \(bias\)\./);
  // an in-card link scrolls within the card; the frame keeps showing it
  await frame.locator('a[href="#proto-2"]').click();
  assert.equal(await frame.locator('h1').count(), 1);
  assert.equal(await page.$eval('#card', (f) => (f as HTMLIFrameElement).contentDocument!.URL), 'about:srcdoc');

  const origin = new URL(server.url).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')), [], 'no request leaves the site');
  assert.deepEqual(errors, []);
});

test('in Chromium: a JPEG decodes within a few levels of sharp, and the model part agrees on the pixels the browser saw', async () => {
  const { page } = browser;
  const jpeg = fx.images.find((f) => /\.jpe?g$/.test(f))!;
  const { last, input } = await upload(jpeg);
  assert.ok(last);
  const node = await decodeForDisplay(jpeg, fx.preprocess);
  let maxLevel = 0;
  for (let i = 0; i < input.length; i++) maxLevel = Math.max(maxLevel, Math.abs(input[i] - node.input.data[i]));
  assert.ok(maxLevel <= 8, `browser JPEG decode differs from sharp's by up to ${maxLevel} levels`);
  // Node on exactly the browser's pixels (a PNG at the input size is used as is) gives the browser's numbers.
  const seen = join(root, 'browser-seen.png');
  await sharp(Buffer.from(input), { raw: { width: last.input.width, height: last.input.height, channels: 3 } }).png().toFile(seen);
  const [ref] = await nodeExplain([seen], last.explainedClass);
  assert.ok(maxRel(last.logits, ref.logits) <= 1e-4);
  assert.ok(maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)) <= 1e-4);
  assert.equal(await page.$eval('#status', (s) => s.className), '');
});

test('in Chromium: the class picker explains the class named; a bad file or class is an error, not a card', async () => {
  const { page } = browser;
  const png = fx.images.find((f) => f.endsWith('.png'))!;
  const [pred] = await nodeExplain([png]);
  const other = (pred.explained.index + 1) % CLASS_NAMES.length;
  const [ref] = await nodeExplain([png], other);
  const { last } = await upload(png, CLASS_NAMES[other]);
  assert.ok(last);
  assert.equal(last.explainedClass, other);
  assert.equal(last.selectedBy, 'class');
  assert.ok(maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)) <= 1e-4);
  assert.equal(await page.frameLocator('#card').locator('h1').textContent(), `Why \u201c${CLASS_NAMES[other]}\u201d?`);

  const bad = await upload(fx.badImage);
  assert.equal(bad.last, null);
  assert.match((await page.textContent('#status')) ?? '', /not an image this browser can decode/);
  const unknown = await upload(png, 'unicorn');
  assert.equal(unknown.last, null);
  assert.match((await page.textContent('#status')) ?? '', /class 'unicorn' is not a class of this network/);
});

test('in Chromium with cross-origin isolation: threads, same numbers', async () => {
  const isolated = await serveFolder(site.dir, { isolated: true });
  try {
    const { page } = browser;
    await page.goto(isolated.url);
    const ready = await page.evaluate(() => window.protolensSite.ready);
    assert.ok(await page.evaluate(() => globalThis.crossOriginIsolated));
    assert.ok(ready.threads >= 2, `threads ${ready.threads}`);
    const png = fx.images.find((f) => f.endsWith('.png'))!;
    const [ref] = await nodeExplain([png]);
    const { last } = await upload(png);
    assert.ok(last);
    assert.ok(maxRel(last.logits, ref.logits) <= 1e-4);
  } finally {
    await isolated.close();
  }
});

test('in Chromium: a network with a residual term (allocator none) shows it, and the sum still gives the logit', async () => {
  const residualSite = await writeSite({ net: fx.residualNetDir, out: join(root, 'residual-site') });
  const srv = await serveFolder(residualSite.dir);
  try {
    const { page } = browser;
    await page.goto(srv.url);
    await page.evaluate(() => window.protolensSite.ready);
    const png = fx.images.find((f) => f.endsWith('.png'))!;
    const [ref] = await nodeExplain([png], undefined, fx.residualNetDir);
    assert.ok(ref.explained.residual, 'the fixture has a residual term');
    const { last } = await upload(png);
    assert.ok(last);
    assert.ok(last.residual !== null);
    assert.ok(Math.abs(last.residual - ref.explained.residual.contribution) <= 1e-4 * Math.max(1, Math.abs(ref.explained.residual.contribution)));
    assert.ok(maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)) <= 1e-4);
    assert.equal(await page.frameLocator('#card').locator('article.proto').count(), 4, 'three prototypes and the residual term');
    assert.match((await page.textContent('#status')) ?? '', /\(residual\)/);
  } finally {
    await srv.close();
  }
});

test('opened as a file:// page, the site says how to serve it', async () => {
  const { page } = browser;
  await page.goto(pathToFileURL(join(site.dir, 'index.html')).href);
  await page.waitForSelector('#status.error');
  assert.match((await page.textContent('#status')) ?? '', /opened as a file.*serve this folder over HTTP/);
});

test('protolens site through the real entry point: writes, reports JSON; usage and input errors exit 2 and 3', async () => {
  const { spawnSync } = await import('node:child_process');
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/protolens.js', 'site', ...args], { encoding: 'utf8' });
  const out = join(root, 'cli-site');
  const ok = cli('--net', fx.netDir, '--out', out, '--title', 'Birds & co', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout) as SiteResult;
  assert.equal(r.dir, out);
  assert.equal(r.classes, CLASS_NAMES.length);
  assert.match(await readFile(join(out, 'index.html'), 'utf8'), /<title>Birds &amp; co<\/title>/);
  const text = cli('--net', fx.netDir, '--out', out);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^wrote .*cli-site \(\d+ files, [\d.]+ MB\)\n/);
  assert.equal(cli('--net', fx.netDir).status, 2);
  assert.equal(cli('--net', fx.netDir, '--out', out, '--top', '0').status, 2);
  const foreign = cli('--net', fx.netDir, '--out', join(root, 'mine'));
  assert.equal(foreign.status, 3);
  assert.match(foreign.stderr, /not a protolens site folder/);
});
