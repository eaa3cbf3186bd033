// The HTML explanation card: content, escaping, self-containment, exactness check, inlined pictures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { type CardData, escapeHtml, renderCard } from '../../src/explain/card-html.ts';
import { writeCard } from '../../src/explain/card.ts';
import { crop, overlay } from '../../src/pictures/overlay.ts';
import { prototypeBox } from '../../src/pictures/overlay-layers.ts';
import { CheckError, InputError } from '../../src/util/errors.ts';
import { openBrowser } from '../helpers/browser.ts';
import { assertBalanced } from '../helpers/html.ts';

function sampleCard(): CardData {
  const contributions = [1.25, -0.5, 0.75];
  const bias = 0.5;
  const logits = [0.2, contributions.reduce((a, b) => a + b) + bias, -1, 1.5, 0.1, -0.3, 0.05];
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b);
  return {
    imagePath: 'images/input.png',
    classNames: ['cat', '<script>alert("x")</script>', 'dog', 'Sparrow & "co"', 'owl', 'emu', 'kiwi'],
    logits,
    probabilities: e.map((v) => v / s),
    explainedClass: 1,
    bias,
    prototypes: contributions.map((c, i) => ({
      id: i,
      contribution: c,
      overlayPath: `overlays/p${i}.png`,
      box: { x: 10 * i, y: 5, width: 20, height: 30 },
      exemplars: [0, 1].map((j) => ({ path: `exemplars/p${i}-${j}.png`, sourceImage: `train/x_${i}_${j}<b>.jpg`, score: 2 - j })),
    })),
  };
}

test('card shows every prototype, the prediction and the decomposition', () => {
  const d = sampleCard();
  const html = renderCard(d);
  assertBalanced(html);
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  for (const p of d.prototypes) {
    assert.ok(html.includes(`id="proto-${p.id}"`), `section of prototype ${p.id}`);
    assert.ok(html.includes(`href="#proto-${p.id}"`));
    assert.ok(html.includes(`src="overlays/p${p.id}.png"`));
    for (const e of p.exemplars) {
      assert.ok(html.includes(`src="${e.path}"`));
      assert.ok(html.includes(escapeHtml(e.sourceImage)));
    }
  }
  // Signed contributions; shares of the logit 2.0: 62.5%, -25.0%, 37.5%, bias 25.0%.
  for (const t of ['+1.250', '\u22120.500', '+0.750', '62.5%', '\u221225.0%', '37.5%', '25.0%']) assert.ok(html.includes(t), t);
  // Positive and negative bars differ in colour, fill and direction.
  assert.ok(html.includes('fill="var(--pos)"') && html.includes('fill="url(#neg-hatch)"'));
  // Top-5 by logit: 'Sparrow' (1.5) is rank 2 after the explained class (2.0); 'dog' (-1) is not listed.
  assert.ok(html.indexOf('Sparrow &amp; &quot;co&quot;') > html.indexOf('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<span class="badge">predicted</span><span class="badge">explained</span>'));
  assert.ok(!html.includes('<td class="cname">dog'));
  // Every image has a non-empty alt text.
  const imgs = [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0]);
  assert.equal(imgs.length, 1 + 3 + 6);
  for (const img of imgs) assert.match(img, /alt="[^"]{10,}"/);
});

test('card escapes all text and loads nothing from elsewhere', () => {
  const d = sampleCard();
  d.prototypes[0].label = 'head" onmouseover="alert(1)';
  d.details = [['<i>model</i>', 'a&b']];
  const html = renderCard(d, { title: '</title><script>x</script>' });
  assert.ok(!/<script/i.test(html), 'no script element');
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes('x_0_0&lt;b&gt;.jpg'));
  assert.ok(!html.includes('onmouseover="'));
  assert.ok(html.includes('head&quot; onmouseover=&quot;alert(1)'));
  assert.ok(html.includes('<dt>&lt;i&gt;model&lt;/i&gt;</dt><dd>a&amp;b</dd>'));
  assert.ok(!/<link\b|@import|https?:|url\((?!#)/i.test(html), 'no external resources');
  for (const m of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) assert.match(m[1], /^(#proto-\d+|[a-z0-9/._%-]+\.png)$/i, m[1]);
});

test('picture references: relative paths are percent-encoded, URLs and absolute paths refused', () => {
  const d = sampleCard();
  d.imagePath = 'my images/in #1?.png';
  assert.ok(renderCard(d).includes('src="my%20images/in%20%231%3F.png"'));
  for (const bad of ['https://example.org/a.png', '/abs/a.png', 'file:///a.png', '//host/a.png', 'C:\\x\\a.png']) {
    const e = sampleCard();
    e.prototypes[2].exemplars[1].path = bad;
    assert.throws(() => renderCard(e), (err: unknown) => err instanceof InputError && err.message.includes('prototypes[2].exemplars[1].path'), bad);
  }
  const f = sampleCard();
  f.combinedViewPath = 'data:text/html;base64,PHNjcmlwdD4=';
  assert.throws(() => renderCard(f), /combinedViewPath is a data: URI but not base64 PNG/);
});

test('card refuses a decomposition that does not add up, and inconsistent data', () => {
  const d = sampleCard();
  d.bias += 0.01;
  assert.throws(() => renderCard(d), (e: unknown) => e instanceof CheckError && /sum to 1\.5 and with bias 0\.51 give 2\.01, but its logit is 2/.test(e.message));
  assert.doesNotThrow(() => renderCard(d, { tolerance: 0.02 }));
  const e = sampleCard();
  (e.logits as number[]).pop();
  assert.throws(() => renderCard(e), /logits has 6 values, expected one per class \(7\)/);
  const f = sampleCard();
  f.explainedClass = 7;
  assert.throws(() => renderCard(f), /explainedClass must be a class index in \[0, 6\]/);
  const g = sampleCard();
  (g.prototypes[1] as { contribution: number }).contribution = NaN;
  assert.throws(() => renderCard(g), /prototypes\[1\]\.contribution must be a finite number/);
});

test('explained class outside the top-k is still listed', () => {
  const d = sampleCard();
  d.explainedClass = 2; // 'dog', logit -1: rank 7
  d.bias = -1 - 1.5;
  const html = renderCard(d, { topK: 3 });
  assert.ok(html.includes('<tr class="explained"><td class="num">7</td><td class="cname">dog<span class="badge">explained</span>'));
  assert.equal((html.match(/<tr( class="explained")?><td class="num">\d/g) ?? []).length, 4);
});

/** A card folder with real pictures (input, overlays, exemplar crops) and the sample data pointing at them. */
async function cardFolder(): Promise<{ dir: string; data: CardData; w: number; h: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'card-'));
  const w = 32, h = 24, mh = 3, mw = 4;
  const image = new Uint8Array(w * h * 3).map((_, i) => (i * 37) & 255);
  await mkdir(join(dir, 'images'));
  await mkdir(join(dir, 'overlays'));
  await mkdir(join(dir, 'exemplars'));
  await sharp(image, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, 'images/input.png'));
  const d = sampleCard();
  for (const p of d.prototypes) {
    const map = new Float32Array(mh * mw);
    map[p.id] = 1;
    await writeFile(join(dir, p.overlayPath), await overlay(image, w, h, map, mh, mw));
    (p as { box: unknown }).box = prototypeBox(map, mh, mw, w, h);
    for (const e of p.exemplars) await writeFile(join(dir, e.path), await crop(image, w, h, p.box, 2));
  }
  return { dir, data: d, w, h };
}

test('writeCard links real pictures, or inlines them as data URIs that decode with sharp', async () => {
  const { dir, data: d, w, h } = await cardFolder();
  const linked = join(dir, 'card.html');
  await writeCard(linked, d);
  assert.ok((await readFile(linked, 'utf8')).includes('src="overlays/p1.png"'));

  const inline = join(dir, 'card-inline.html');
  await writeCard(inline, d, { inline: true });
  const html = await readFile(inline, 'utf8');
  const uris = [...html.matchAll(/src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => m[1]);
  assert.equal(uris.length, 10);
  assert.ok(!/src="(?!data:)/.test(html));
  const first = await sharp(Buffer.from(uris[0], 'base64')).metadata();
  assert.deepEqual([first.format, first.width, first.height], ['png', w, h]);
  for (const u of uris) await sharp(Buffer.from(u, 'base64')).raw().toBuffer();

  const missing = sampleCard();
  missing.prototypes[1].exemplars[0].path = 'exemplars/nope.png';
  await assert.rejects(writeCard(join(dir, 'bad.html'), missing), (e: unknown) => e instanceof InputError && /prototypes\[1\]\.exemplars\[0\]\.path 'exemplars\/nope\.png'/.test(e.message));
});

test('in Chromium at 1200 px the card fits, every picture loads and nothing is requested from elsewhere', async () => {
  const { dir, data } = await cardFolder();
  data.combinedViewPath = 'overlays/p0.png';
  await writeCard(join(dir, 'card.html'), data);
  const browser = await openBrowser({ width: 1200, height: 900 });
  try {
    const { page, requests } = browser;
    await page.goto(`file://${join(dir, 'card.html')}`, { waitUntil: 'load' });
    const r = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      images: [...document.images].map((i) => ({ ok: i.complete && i.naturalWidth > 0, shown: i.getBoundingClientRect().width })),
      sections: document.querySelectorAll('article.proto').length,
      bodyFont: parseFloat(getComputedStyle(document.body).fontSize),
    }));
    assert.equal(r.scrollWidth, 1200, 'no horizontal scrolling at 1200 px');
    assert.equal(r.images.length, 1 + 1 + 3 + 6);
    for (const i of r.images) assert.ok(i.ok && i.shown >= 100, JSON.stringify(i));
    assert.equal(r.sections, 3);
    assert.ok(r.bodyFont >= 16);
    assert.deepEqual(requests.filter((u) => !u.startsWith(`file://${dir}/`)), []);
  } finally {
    await browser.close();
  }
});
