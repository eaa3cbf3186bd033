// The viewer and the site at 1,000 classes x k = 10: the page holds only the class headers (each
// class's prototypes come as a fragment when the class comes into view), so it stays small and paints
// at once in Chromium; scrolling or filtering to a class loads its prototypes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAZY_GALLERY_CLASSES } from '../../src/html/gallery.ts';
import { startViewer, type Viewer } from '../../src/viewer/server.ts';
import { writeSite } from '../../src/site/write-site.ts';
import { openBrowser, type BrowserSession } from '../helpers/browser.ts';
import { buildResNetLike } from '../helpers/synthetic-nets.ts';
import { writeUniformNetwork } from '../helpers/uniform-network.ts';
import { serveFolder } from '../site/static-server.ts';

const C = 1000;
const K = 10;
let root: string;
let netDir: string;
let viewer: Viewer;
let browser: BrowserSession;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-large-'));
  ({ netDir } = await writeUniformNetwork(root, 'wide', buildResNetLike({ seed: 5, numClasses: C }), K, 2, 0, 5));
  viewer = await startViewer({ net: netDir });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await viewer?.close();
  await rm(root, { recursive: true, force: true });
});

/** Load `url`; the page's size, its first contentful paint and class count. */
async function open(url: string): Promise<{ bytes: number; fcp: number; classes: number; eagerImages: number }> {
  const { page } = browser;
  const res = await page.goto(url, { waitUntil: 'load' });
  const bytes = (await res!.body()).length;
  const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Infinity);
  const classes = await page.$$eval('.gallery .cls', (c) => c.length);
  const eagerImages = await page.$$eval('.gallery img', (i) => i.length);
  return { bytes, fcp, classes, eagerImages };
}

async function scrollToClassAndSeeItsPrototypes(c: number): Promise<void> {
  const { page } = browser;
  await page.locator(`#class-${c}`).scrollIntoViewIfNeeded();
  await page.waitForFunction((id) => document.querySelectorAll(`#class-${id} .proto`).length > 0, c, { timeout: 10_000 });
  assert.equal(await page.$$eval(`#class-${c} .proto`, (p) => p.length), K);
  const loaded = await page.$$eval(`#class-${c} .proto img`, async (imgs) => {
    await Promise.all((imgs as HTMLImageElement[]).map((i) => { i.loading = 'eager'; return i.complete ? null : new Promise((r) => { i.onload = r; i.onerror = r; }); }));
    return (imgs as HTMLImageElement[]).map((i) => i.naturalWidth);
  });
  assert.equal(loaded.length, K * 6, 'context + 5 patches per prototype');
  assert.ok(loaded.every((w) => w > 0));
}

test(`the viewer at ${C} classes x k = ${K}: a small page that paints at once, prototypes loaded per class`, async () => {
  assert.ok(C > LAZY_GALLERY_CLASSES);
  const errors: string[] = [];
  browser.page.on('pageerror', (e) => errors.push(String(e)));
  const r = await open(viewer.url);
  assert.equal(r.classes, C);
  assert.ok(r.bytes < 1_000_000, `page of ${r.bytes} bytes (the eager page was about 17 MB)`);
  assert.ok(r.fcp < 2000, `first contentful paint after ${r.fcp} ms`);
  assert.ok(r.eagerImages < 200, `${r.eagerImages} pictures before scrolling: only the classes in view`);
  await scrollToClassAndSeeItsPrototypes(917);
  // The filter narrows to a class far down; its prototypes load when it comes into view.
  await browser.page.fill('#filter', 'class 640'); // names are shown with spaces
  assert.equal(await browser.page.textContent('#filter-count'), `1 of ${C} classes`);
  await scrollToClassAndSeeItsPrototypes(640);
  const fragment = await fetch(new URL('gallery/3.html', viewer.url));
  assert.equal(fragment.status, 200);
  assert.equal((await fetch(new URL(`gallery/${C}.html`, viewer.url))).status, 404);
  assert.deepEqual(errors, []);
});

test(`the site at ${C} classes writes one fragment per class and pages the same way`, async () => {
  const site = await writeSite({ net: netDir, out: join(root, 'site') });
  assert.equal((await readdir(join(site.dir, 'gallery'))).length, C);
  const srv = await serveFolder(site.dir);
  try {
    const r = await open(srv.url);
    assert.equal(r.classes, C);
    assert.ok(r.bytes < 1_000_000, `page of ${r.bytes} bytes`);
    assert.ok(r.fcp < 2000, `first contentful paint after ${r.fcp} ms`);
    await scrollToClassAndSeeItsPrototypes(999);
  } finally {
    await srv.close();
  }
});
