// The viewer page in headless Chromium: every class listed, every picture loads, the class filter
// narrows the gallery, and an image uploaded through the form comes back as a card in the frame.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startViewer, type Viewer } from '../../src/viewer/server.ts';
import { CLASS_NAMES, type ExplainFixture } from '../explain/explain-fixture.ts';
import { openBrowser, type BrowserSession } from '../helpers/browser.ts';
import { makeViewerFixture } from './viewer-fixture.ts';

let root: string;
let fx: ExplainFixture;
let viewer: Viewer;
let browser: BrowserSession;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-viewer-browser-'));
  fx = await makeViewerFixture(root);
  viewer = await startViewer({ net: fx.netDir });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await viewer?.close();
  await rm(root, { recursive: true, force: true });
});

test('the page in Chromium: classes, pictures, filter, upload and card', async () => {
  const { page, requests } = browser;
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(viewer.url);
  const listed = await page.$$eval('.gallery .cls h3', (hs) => hs.map((h) => h.textContent ?? ''));
  assert.equal(listed.length, CLASS_NAMES.length);
  for (const name of CLASS_NAMES) assert.ok(listed.some((t) => t.includes(name)), `${name} listed`);

  // Every picture loads (lazy ones are made eager first, then awaited).
  const pictures = await page.evaluate(async () => {
    const imgs = Array.from(document.querySelectorAll('img'));
    imgs.forEach((i) => (i.loading = 'eager'));
    await Promise.all(imgs.map((i) => (i.complete ? null : new Promise((r) => { i.onload = r; i.onerror = r; }))));
    return imgs.map((i) => ({ src: i.src, w: i.naturalWidth }));
  });
  assert.ok(pictures.length > 0);
  for (const p of pictures) assert.ok(p.w > 0, `${p.src} loaded`);

  // The filter.
  await page.fill('#filter', 'bird');
  assert.deepEqual(await page.$$eval('.gallery .cls:not([hidden]) h3', (hs) => hs.map((h) => h.textContent ?? '')).then((t) => t.map((x) => x.includes('bird'))), [true]);
  assert.equal(await page.textContent('#filter-count'), `1 of ${CLASS_NAMES.length} classes`);
  await page.fill('#filter', '');
  assert.equal(await page.$$eval('.gallery .cls:not([hidden])', (c) => c.length), CLASS_NAMES.length);

  // A bad file: an error message, no card.
  await page.setInputFiles('#file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image') });
  await page.waitForSelector('#status.error');
  assert.match((await page.textContent('#status')) ?? '', /^notes\.png: /);
  assert.equal(await page.$eval('#card', (f) => f.classList.contains('shown')), false);

  // A real image: the card appears in the frame.
  await page.setInputFiles('#file', fx.images[1]);
  await page.waitForSelector('#card.shown');
  const frame = page.frameLocator('#card');
  await frame.locator('h1').waitFor();
  const heading = (await frame.locator('h1').textContent()) ?? '';
  assert.ok(CLASS_NAMES.some((n) => heading.includes(n)), heading);
  const status = (await page.textContent('#status')) ?? '';
  assert.match(status, /Logit .* = .* \(bias\)\./);
  const cardPictures = await frame.locator('img').evaluateAll(async (imgs) => {
    await Promise.all((imgs as HTMLImageElement[]).map((i) => (i.complete ? null : new Promise((r) => { i.onload = r; i.onerror = r; }))));
    return (imgs as HTMLImageElement[]).map((i) => i.naturalWidth);
  });
  assert.ok(cardPictures.length > 0 && cardPictures.every((w) => w > 0), 'every card picture loads');

  const origin = new URL(viewer.url).origin;
  assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:')), [], 'no request leaves the server');
  assert.deepEqual(errors, []);
});
