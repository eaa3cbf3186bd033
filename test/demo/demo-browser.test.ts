// `npm run demo` end to end through its real entry point (scripts/demo.ts), on a smaller dataset of
// the same generator and classes (12 training and 4 test images per class; the committed model works
// on any number of images), then its page in headless Chromium. A second, warm run checks the cache
// and that a rerun leaves no stale output.
import { existsSync } from 'node:fs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadImage } from '../../src/data/load.ts';
import { openDataset } from '../../src/data/open.ts';
import { validatePreprocessConfig } from '../../src/data/preprocess-config.ts';
import type { EvaluationReport } from '../../src/evaluate/output/report.ts';
import type { ExplanationDocument } from '../../src/explain/schema.ts';
import type { DemoSummary } from '../../src/demo/summary.ts';
import { DEFAULT_DEMO_MODEL } from '../../src/demo/options.ts';
import { openBrowser } from '../helpers/browser.ts';

let root: string;
let out: string;
let cache: string;
let first: { status: number | null; stdout: string; stderr: string };
let summary: DemoSummary;

function demo(args: string[], nodeArgs: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, 'scripts/demo.ts', ...args]);
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const SMALL = ['--train-per-class', '12', '--test-per-class', '4', '--deletion-images', '4'];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'protolens-demo-'));
  out = join(root, 'out');
  cache = join(root, 'cache');
  first = await demo(['--out', out, '--cache', cache, ...SMALL, '--json']);
  if (first.status === 0) summary = JSON.parse(first.stdout);
});
after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

test('the demo runs from nothing, exits 0 and reports what it did', async () => {
  assert.equal(first.status, 0, first.stderr);
  assert.equal(summary.schema, 'protolens.demo');
  assert.equal(summary.dataset.reused, false);
  assert.deepEqual([summary.dataset.classes, summary.dataset.train, summary.dataset.test], [15, 180, 60]);
  assert.equal(summary.dataset.sameAsTraining, false);
  assert.ok(summary.warnings.some((w) => /other sizes/.test(w)), 'the smaller dataset is flagged');
  assert.equal(summary.network.k, 3);
  assert.deepEqual(summary.steps.map((s) => s.name), ['dataset', 'build', 'classify the test split', 'explain test images', 'evaluate', 'sanity check', 'page']);
  // Progress went to stderr, step by step; stdout is only the JSON.
  for (const step of ['[1/7] dataset', '[2/7] build', '[5/7] evaluate', '[6/7] sanity', '[7/7] page']) assert.ok(first.stderr.includes(step), step);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')), summary);
  // The sanity check ran and its report is in the folder: the refined prototypes' consistency fell.
  assert.equal(summary.sanity.status, 'done');
  if (summary.sanity.status === 'done') {
    const c = summary.sanity.sets.refined?.consistency;
    assert.ok(c && c.original !== null && c.randomised !== null && c.randomised < c.original, JSON.stringify(c));
    assert.ok(existsSync(join(out, 'sanity', 'randomisation.json')));
  }
});

test('accuracy and the explained images agree with a plain onnxruntime session of the model', async () => {
  const record = JSON.parse(await readFile(DEFAULT_DEMO_MODEL.replace(/\.onnx$/, '.json'), 'utf8'));
  const cfg = validatePreprocessConfig(record.preprocess, 'demo-cnn.json');
  const ds = await openDataset(summary.dataset.dir, { format: 'cub', split: 'test' });
  const session = await ort.InferenceSession.create(DEFAULT_DEMO_MODEL);
  const logitsOf = new Map<string, Float32Array>();
  let correct = 0;
  const wrong: string[] = [];
  try {
    for await (const item of ds.items()) {
      const { tensor } = await loadImage(item, cfg);
      const r = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', tensor, [1, 3, 64, 64]) });
      const logits = r[session.outputNames[0]].data as Float32Array;
      logitsOf.set(item.path, logits);
      const pred = logits.indexOf(Math.max(...logits));
      if (pred === item.label) correct++;
      else wrong.push(item.path);
    }
  } finally {
    await session.release();
  }
  assert.equal(summary.accuracy.images, 60);
  assert.equal(summary.accuracy.correct, correct);
  assert.equal(summary.accuracy.misclassified, wrong.length);

  const doc: ExplanationDocument = JSON.parse(await readFile(join(out, 'explanations', 'explanations.json'), 'utf8'));
  // First test image of each of the first 6 classes, then one misclassified image if the model made a mistake.
  assert.equal(doc.images.length, 6 + (wrong.length > 0 ? 1 : 0));
  assert.equal(summary.explained.length, doc.images.length);
  const firstOf = (c: number) => [...logitsOf.keys()].find((p) => p.includes(`/${String(c + 1).padStart(3, '0')}.`));
  for (let c = 0; c < 6; c++) assert.equal(doc.images[c].image, firstOf(c), `class ${c}`);
  if (wrong.length > 0) assert.equal(doc.images[6].image, wrong.find((p) => !doc.images.slice(0, 6).some((e) => e.image === p)));
  for (const e of doc.images) {
    assert.equal(e.status, 'ok');
    if (e.status !== 'ok') continue;
    const ref = logitsOf.get(e.image)!;
    const x = e.explained;
    assert.equal(x.index, ref.indexOf(Math.max(...ref)), 'the predicted class is explained');
    assert.ok(Math.abs(x.logit - ref[x.index]) <= 1e-4 * Math.max(1, Math.abs(ref[x.index])), `logit ${x.logit} vs ${ref[x.index]}`);
    const sum = x.prototypes.reduce((a, p) => a + p.contribution, x.bias);
    assert.ok(Math.abs(sum - ref[x.index]) <= 1e-4 * Math.max(1, Math.abs(ref[x.index])), `contributions + bias ${sum} vs logit ${ref[x.index]}`);
  }
});

test('the page shows the evaluation report and build diagnostics as written', async () => {
  const html = await readFile(join(out, 'index.html'), 'utf8');
  const report: EvaluationReport = JSON.parse(await readFile(join(out, 'evaluation', 'evaluation.json'), 'utf8'));
  assert.equal(summary.evaluation.status, 'done');
  if (summary.evaluation.status !== 'done') return;
  const sets = report.metrics.parts!.sets;
  assert.equal(summary.evaluation.consistency!.refined, sets.refined!.consistency.score);
  assert.equal(summary.evaluation.consistency!.initial, sets.initial!.consistency.score);
  assert.equal(summary.evaluation.consistency!.random, sets.random!.consistency.score);
  assert.equal(summary.evaluation.stability!.refined, sets.refined!.stability!.score);
  // The consistency table: refined, initial, random, in that order, with the report's numbers.
  const rows = [...html.matchAll(/<tr(?: class="hl")?><th scope="row">([^<]+)<\/th><td class="num">([\d.]+)<\/td><td class="num">(\d+) \/ (\d+)<\/td>/g)];
  assert.deepEqual(rows.map((r) => r[1]), [sets.refined!.label, sets.initial!.label, sets.random!.label].map((l) => l.replace(/&/g, '&amp;')));
  assert.deepEqual(rows.map((r) => Number(r[2])), ['refined', 'initial', 'random'].map((n) => Number(sets[n as 'refined']!.consistency.score.toFixed(1))));
  // Fidelity: the prototype network is the model.
  assert.equal(report.metrics.fidelity!.agreement, 1);
  assert.ok(html.includes('All guarantees hold'));
  assert.ok(html.includes('to make this page from scratch'));
  // Build diagnostics: one row per class with the manifest's NMF error.
  const manifest = JSON.parse(await readFile(join(out, 'network', 'manifest.json'), 'utf8'));
  // The static site of the network, linked from the explanations section.
  assert.equal(summary.site, join(out, 'site'));
  assert.deepEqual(JSON.parse(await readFile(join(out, 'site', 'site.json'), 'utf8')).classNames, manifest.classNames);
  assert.ok(html.includes('<a href="site/index.html">the network'), 'the page links the site');
  for (const c of manifest.classes) {
    const name = c.name.replace(/^\d+\./, '').replace(/_/g, ' ');
    assert.ok(html.includes(`<a href="#class-${c.index}">${name}</a></th><td class="num">${c.images}</td><td class="num">${c.diagnostics.nmfRelError.toFixed(3)}</td>`), name);
  }
});

test('in Chromium the page shows every class, every picture loads, nothing is requested from elsewhere', async () => {
  const browser = await openBrowser({ width: 1200, height: 900 });
  try {
    const { page, requests } = browser;
    await page.goto(`file://${join(out, 'index.html')}`, { waitUntil: 'load' });
    const r = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      images: [...document.images].map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, alt: i.alt, shown: i.getBoundingClientRect().width })),
      classes: [...document.querySelectorAll('article.cls')].map((a) => ({ id: a.id, title: a.querySelector('h3')?.textContent ?? '', protos: a.querySelectorAll('.proto').length })),
      explained: document.querySelectorAll('article.expl').length,
      sections: [...document.querySelectorAll('main > section')].map((s) => s.id),
      links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')!),
    }));
    assert.equal(r.scrollWidth, 1200, 'no horizontal scrolling at 1200 px');
    const names = JSON.parse(await readFile(join(out, 'network', 'manifest.json'), 'utf8')).classNames as string[];
    assert.equal(r.classes.length, 15);
    r.classes.forEach((c, i) => {
      assert.equal(c.id, `class-${i}`);
      assert.ok(c.title.includes(names[i].replace(/^\d+\./, '').replace(/_/g, ' ')), c.title);
      assert.equal(c.protos, 3);
    });
    assert.equal(r.explained, summary.explained.length);
    assert.deepEqual(r.sections, ['overview', 'data', 'prototypes', 'explanations', 'diagnostics', 'evaluation', 'sanity', 'made']);
    // Contact sheet + 15 x 3 x (1 context + 5 patches) + explained images x (input + 3 overlays) + 2 plots.
    assert.equal(r.images.length, 1 + 15 * 3 * 6 + summary.explained.length * 4 + 2);
    for (const i of r.images) {
      assert.ok(i.ok, `picture did not load: ${i.src}`);
      assert.ok(i.alt.length >= 10, `alt text of ${i.src}`);
      assert.ok(i.shown > 0, `picture not shown: ${i.src}`);
    }
    assert.deepEqual(requests.filter((u) => !u.startsWith(`file://${out}/`)), [], 'requests outside the output folder');
    for (const href of r.links.filter((h) => !h.startsWith('#'))) {
      assert.ok((await stat(join(out, decodeURIComponent(href))).catch(() => null))?.isFile(), `link target ${href}`);
    }
    const shot = join(root, 'demo-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await stat(shot)).size > 100_000);
  } finally {
    await browser.close();
  }
});

test('a second run reuses the dataset and features and leaves nothing stale', async () => {
  const second = await demo(['--out', out, '--cache', cache, ...SMALL, '--no-evaluate', '--explain-classes', '2', '--quiet']);
  assert.equal(second.status, 0, second.stderr);
  assert.equal(second.stderr.includes('[1/6]'), false, '--quiet: no progress');
  assert.match(second.stdout, /evaluation {5}skipped/);
  assert.match(second.stdout, /open {11}.*index\.html/);
  const s: DemoSummary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
  assert.equal(s.dataset.reused, true);
  assert.equal(s.evaluation.status, 'skipped');
  assert.equal(s.accuracy.correct, summary.accuracy.correct);
  const cards = (await readdir(join(out, 'explanations'))).filter((n) => /^\d{4}-/.test(n));
  assert.equal(cards.length, s.explained.length);
  assert.equal(cards.length, 2 + (summary.accuracy.misclassified > 0 ? 1 : 0));
  assert.equal(await stat(join(out, 'evaluation')).catch(() => null), null, 'the previous evaluation is gone');
  const html = await readFile(join(out, 'index.html'), 'utf8');
  assert.ok(html.includes('The evaluation was skipped'));
  // The features and the per-class results came from the cache: the build step and the time tile say so.
  assert.ok(html.includes('features, prototypes and exemplars from the cache'));
  assert.ok(html.includes('to make this page (dataset and features from the cache)'));
});

test('without the evaluation module the demo still shows everything else', async () => {
  const other = join(root, 'no-eval');
  const hide = fileURLToPath(new URL('./fixtures/hide-evaluation.mjs', import.meta.url));
  const r = await demo(['--out', other, '--cache', cache, ...SMALL, '--quiet', '--json'], ['--import', hide]);
  assert.equal(r.status, 0, r.stderr);
  const s: DemoSummary = JSON.parse(r.stdout);
  assert.equal(s.evaluation.status, 'unavailable');
  if (s.evaluation.status === 'unavailable') assert.match(s.evaluation.reason, /hidden by the test/);
  assert.deepEqual(s.sanity, { status: 'skipped', reason: 'the evaluation was unavailable' });
  assert.equal(s.accuracy.correct, summary.accuracy.correct);
  const html = await readFile(join(other, 'index.html'), 'utf8');
  assert.ok(html.includes('The evaluation module is not available in this checkout'));
  assert.equal((html.match(/<article class="cls"/g) ?? []).length, 15);
  assert.equal((html.match(/<article class="expl/g) ?? []).length, s.explained.length);
  assert.equal(await stat(join(other, 'evaluation')).catch(() => null), null);
});

test('a folder the demo did not write is refused, and usage errors exit 2', async () => {
  const foreign = join(root, 'foreign');
  await mkdir(foreign);
  await writeFile(join(foreign, 'notes.txt'), 'mine');
  const r = await demo(['--out', foreign, '--cache', cache, '--quiet']);
  assert.equal(r.status, 3);
  assert.match(r.stderr, /not empty and was not written by the demo/);
  assert.equal(await readFile(join(foreign, 'notes.txt'), 'utf8'), 'mine');
  const u = await demo(['--k', 'three']);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /--k: expected an integer >= 1, got 'three'/);
  const h = await demo(['--help']);
  assert.equal(h.status, 0);
  for (const o of ['--out DIR', '--json', '--no-evaluate', '--train-per-class']) assert.ok(h.stdout.includes(o), o);
});
