// The demo page as HTML: content from hand-made data, escaping, links kept inside the folder, the
// evaluation's states, and the link check run on written pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoPageData, PageEvaluation, PageSanity } from '../../src/html/page-data.ts';
import { renderDemoPage } from '../../src/demo/page/page.ts';
import { url } from '../../src/html/format.ts';
import { brokenReferences, pageReferences } from '../../src/demo/page/links.ts';
import { InputError } from '../../src/util/errors.ts';
import { assertBalanced } from '../helpers/html.ts';

const DONE: PageEvaluation = {
  status: 'done',
  images: 8,
  seconds: 3.5,
  seed: 0,
  fidelity: { images: 8, blackBoxTop1: 0.875, networkTop1: 0.875, agreement: 1, maxAbsLogitDiff: 2e-6, pass: true },
  parts: {
    images: 8, variant: 'strict', halfSize: 10, inputSize: [64, 64], threshold: 0.8, stabilityVariant: 'evalprotopnet', noiseStd: 0.2, noiseEps: null, boxSize: 21, comprehensiveness: true, purity: { topK: 10, patch: 9, images: 20 },
    sets: [
      { name: 'refined', label: 'refined (the network)', consistency: 83.3, consistentPrototypes: 5, prototypes: 6, stability: 61.5, distinctiveness: 91.25, comprehensiveness: 47.5, purity: 0.9 },
      { name: 'initial', label: 'initial (NMF)', consistency: 66.7, consistentPrototypes: 4, prototypes: 6, stability: 70, distinctiveness: 80.5, comprehensiveness: 52.5, purity: 0.95 },
      { name: 'random', label: 'random convex split', consistency: 50, consistentPrototypes: 3, prototypes: 6, stability: 55.25, distinctiveness: null, comprehensiveness: 30, purity: 0.4 },
    ],
  },
  deletion: { images: 2, rows: [{ label: 'class map (sum of the prototype maps)', deletion: 0.2, insertion: 0.8 }, { label: 'random order (baseline)', deletion: 0.4, insertion: 0.6 }], beatsRandom: [{ mode: 'deletion', fraction: 1 }] },
  axioms: [{ axiom: 'completeness', pass: true, images: 8, checks: 48, worstError: 1e-6, tolerance: 1e-4 }],
  plots: { consistency: 'evaluation/consistency.png', deletion: null },
  links: { markdown: 'evaluation/results.md', json: 'evaluation/evaluation.json' },
  checks: { passed: true, failures: [] },
};

const SANITY: PageSanity = {
  status: 'done',
  layers: ["Conv 'block5_conv'", "Conv '<b>4'"],
  seconds: 41,
  refinedScoresFell: true,
  rows: [
    { set: 'refined', score: 'consistency', original: 93.3, randomised: 57.8 },
    { set: 'refined', score: 'comprehensiveness', original: 48.4, randomised: null },
    { set: 'random', score: 'consistency', original: 73.3, randomised: 20 },
  ],
  links: { markdown: 'sanity/randomisation.md', json: 'sanity/randomisation.json' },
  cascade: {
    scores: ['consistency', 'purity'],
    trained: [93.3, 0.428],
    steps: [
      { depth: 1, layers: ["Conv 'block5_conv'"], values: [70.25, 0.4] },
      { depth: 2, layers: ["Conv 'block5_conv'", "Conv 'block4_conv'"], values: [57.8, null] },
    ],
  },
};

/** Two classes (one with hostile text), k = 2, one explained image that the model got wrong. */
function sample(evaluation: PageEvaluation = DONE, sanity: PageSanity = SANITY): DemoPageData {
  const names = ['001.Red_headed_Fantail', '002.<script>alert(1)</script>_Bird'];
  return {
    model: { name: 'demo <CNN>', file: 'models/demo-cnn.onnx', sha256: 'ab'.repeat(32), architecture: '5 conv blocks', parameters: 248063, input: [64, 64], featureMap: { height: 8, width: 8, channels: 128 }, preprocess: 'stretched' },
    dataset: { classes: 2, train: 20, test: 8, seed: 7, generatorVersion: '1.0.0', sameAsTraining: true, contactSheet: 'dataset.png' },
    build: { k: 2, preset: 'default', allocator: 'gradient', scaling: 'nnls', objective: 'prototype', seed: 0, images: 20, exemplars: 2, percentile: 95, meanPartFidelity: 0.95, manifest: 'network/manifest.json' },
    classNames: names,
    classes: names.map((name, c) => ({
      index: c,
      name,
      attributes: [{ part: 'head', text: c === 0 ? 'red, round' : '"red" & <b>', colour: '#d32f2f' }],
      testImages: 4,
      testCorrect: 4 - c,
      trainImages: 10,
      distinctiveness: 87.5,
      comprehensiveness: null,
      diagnostics: { nmfRelError: 0.3, residualRatio: 0.8, objectiveRatio: 0.5, meanPartFidelity: 0.95, partFidelityUniformMean: 0.7 },
      prototypes: [0, 1].map((i) => ({
        index: i,
        partFidelity: 0.9 + 0.01 * i,
        lowFidelity: c === 1 && i === 0,
        alpha: 0.02,
        exemplars: [0, 1].map((r) => ({ crop: `network/exemplars/c0000${c}/p${i}_${r}.png`, context: `network/exemplars/c0000${c}/p${i}_${r}_context.png`, image: `images/x ${c}_${r}.jpg`, score: 2 - r })),
        dominantPart: i === 0 ? { name: 'nape', rate: 0.9, consistent: true } : { name: 'tail', rate: 0.5, consistent: false },
        stability: 0.6,
        purity: i === 0 ? { value: 0.8, part: 'nape' } : null,
      })),
    })),
    accuracy: { images: 8, correct: 7, misclassified: 1 },
    explanations: [
      {
        image: 'images/002.x/x 1.jpg', reason: 'misclassified', label: 1, predicted: 0, probability: 0.6, explainedClass: 0,
        logit: 3, bias: 0.5, contributions: [2, 0.5], trueClass: { logit: 2.5, bias: 0.25, contributions: [1.25, 1] },
        card: 'explanations/0000-x 1/card.html', input: 'explanations/0000-x 1/input.png', overlays: ['explanations/0000-x 1/prototype-0.png', 'explanations/0000-x 1/prototype-1.png'],
      },
    ],
    explanationsIndex: 'explanations/index.html',
    site: null,
    evaluation,
    sanity,
    timing: { steps: [{ name: 'build', seconds: 4.2, note: 'from <cache>' }], seconds: 75, cached: false, loadAverage: [1, 2, 3], cpus: 2, node: '20.0.0', date: '2026-01-01 00:00:00 UTC' },
    command: 'npm run demo',
    warnings: ['a <warning>'],
  };
}

test('every class, prototype, exemplar and explained image is on the page', () => {
  const d = sample();
  const html = renderDemoPage(d);
  assertBalanced(html);
  for (const c of d.classes) {
    assert.ok(html.includes(`<article class="cls" id="class-${c.index}">`));
    for (const p of c.prototypes) for (const e of p.exemplars) assert.ok(html.includes(`src="${e.crop}"`), e.crop);
  }
  assert.ok(html.includes('nape <small>(head)</small> 90% \u2713'), 'a consistent prototype names its part and region');
  assert.match(html, /<span class="part" title="[^"]*">tail 50%<\/span>/, 'an inconsistent one without the tick');
  assert.ok(html.includes('3/4 test images right'));
  // The misclassified image shows the predicted class's decomposition and the true class's.
  assert.ok(html.includes('misclassified as Red headed Fantail'));
  assert.ok(html.includes('+2.000') && html.includes('+1.250') && html.includes('+2.500'));
  // Spaces in paths are percent-encoded.
  assert.ok(html.includes('src="explanations/0000-x%201/prototype-1.png"'));
  // Every picture has alt text.
  const imgs = [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0]);
  assert.equal(imgs.length, 1 + 2 * 2 * (1 + 2) + 3 + 1);
  for (const img of imgs) assert.match(img, /alt="[^"]{10,}"/);
  // Consistency table in the order refined, initial, random.
  const rows = [...html.matchAll(/<th scope="row">([^<]+)<\/th><td class="num">([\d.]+)<\/td><td class="num">\d+ \/ \d+<\/td>/g)].map((m) => [m[1], m[2]]);
  assert.deepEqual(rows, [['refined (the network)', '83.3'], ['initial (NMF)', '66.7'], ['random convex split', '50.0']]);
  // Stability, distinctiveness (a dash when not scored) and comprehensiveness follow in each row; the headers name them.
  const tail = [...html.matchAll(/<td class="num">\d+ \/ \d+<\/td><td class="num">([^<]+)<\/td><td class="num">([^<]+)<\/td><td class="num">([^<]+)<\/td><td class="num">([^<]+)<\/td><\/tr>/g)].map((m) => m.slice(1));
  assert.deepEqual(tail, [['61.5', '91.3', '47.5', '0.900'], ['70.0', '80.5', '52.5', '0.950'], ['55.3', '\u2013', '30.0', '0.400']]);
  assert.ok(html.includes('top 10 of the 20 training images'), 'purity is explained');
  assert.ok(html.includes('>pure 80%</span>'), "a prototype's purity in the gallery");
  assert.ok(html.includes('<th scope="col" class="num">distinctiveness</th><th scope="col" class="num">comprehensiveness</th><th scope="col" class="num">purity</th>'));
  assert.ok(html.includes('21 \u00d7 21 px boxes'), 'the box side of distinctiveness');
  // The gallery names a class's distinctiveness and comprehensiveness where the evaluation gave them.
  assert.ok(html.includes('distinct 88'));
  // The region size named in the gallery comes from the protocol's half size: 2 x 10 + 1.
  assert.ok(html.includes('21 \u00d7 21 pixels of the 64-pixel input'));
});

test('the sanity check: per set and score the trained and the randomised model, the verdict, the files; or why it did not run', () => {
  const html = renderDemoPage(sample());
  assertBalanced(html);
  const section = html.slice(html.indexOf('<section id="sanity">'), html.indexOf('</section>', html.indexOf('<section id="sanity">')));
  const rows = [...section.matchAll(/<tr><th scope="row">([^<]+)<\/th><td>([^<]+)<\/td><td class="num">([^<]+)<\/td><td class="num">([^<]+)<\/td><\/tr>/g)].map((m) => m.slice(1));
  assert.deepEqual(rows, [
    ['refined (the network)', 'consistency', '93.3', '57.8'],
    ['refined (the network)', 'comprehensiveness', '48.4', '\u2013'],
    ['random convex split', 'consistency', '73.3', '20.0'],
  ]);
  assert.ok(section.includes('Every compared score of the refined prototypes fell'));
  assert.ok(section.includes('href="sanity/randomisation.md"') && section.includes('href="sanity/randomisation.json"'));
  assert.ok(section.includes('&lt;b&gt;4') && !section.includes('<b>4'), 'layer names are escaped');
  assert.ok(html.includes('<a href="#sanity">'), 'the navigation links to it');
  // The cascade: the trained model, then each depth, consistency with 1 digit and purity with 3.
  const cascade = section.slice(section.indexOf('<h3>Cascade'));
  const cells = [...cascade.matchAll(/<tr><th scope="row">([^<]+)<\/th><td class="num">([^<]+)<\/td><td class="num">([^<]+)<\/td><\/tr>/g)].map((m) => m.slice(1));
  assert.deepEqual(cells.map((r) => [r[1], r[2]]), [['93.3', '0.428'], ['70.3', '0.400'], ['57.8', '\u2013']]);
  assert.ok(cells[2][0].startsWith('2 ('));
  const fell = renderDemoPage(sample(DONE, { ...(SANITY as Extract<PageSanity, { status: 'done' }>), refinedScoresFell: false }));
  assert.ok(fell.includes('did not fall'));
  const skipped = renderDemoPage(sample(DONE, { status: 'skipped', reason: 'the demo was run <without> it' }));
  assert.ok(skipped.includes('Not run (skipped): the demo was run &lt;without&gt; it'));
});

test('text is escaped everywhere and nothing loads from elsewhere', () => {
  const html = renderDemoPage(sample());
  assert.ok(!/<script/i.test(html));
  assert.equal(html.match(/class="lowfid"/g)?.length, 1, 'the one low-fidelity prototype is flagged');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt; Bird'));
  assert.ok(html.includes('&quot;red&quot; &amp; &lt;b&gt;'));
  assert.ok(html.includes('demo &lt;CNN&gt;') && html.includes('a &lt;warning&gt;') && html.includes('from &lt;cache&gt;'));
  assert.ok(!/<link\b|@import|https?:|url\(/i.test(html), 'no external resources');
  for (const ref of pageReferences(html)) assert.match(ref, /^(#[a-z0-9-]+|[A-Za-z0-9%._/-]+\.(png|html|json|md))$/, ref);
});

test('links are relative paths inside the folder; anything else is refused', () => {
  assert.equal(url('a b/c#d?.png'), 'a%20b/c%23d%3F.png');
  for (const bad of ['https://example.org/a.png', '/abs/a.png', 'file:///a.png', '../up.png', 'a/../../b.png', 'C:\\x\\a.png', 'javascript:alert(1)', '']) {
    assert.throws(() => url(bad, 'exemplar crop'), (e: unknown) => e instanceof InputError && /exemplar crop/.test(e.message), bad);
  }
  const d = sample();
  d.classes[1].prototypes[0].exemplars[0].crop = 'https://example.org/x.png';
  assert.throws(() => renderDemoPage(d), /exemplar crop 'https:\/\/example\.org\/x\.png' is not a relative path/);
});

test('the evaluation section says why there is no evaluation, or that a check failed', () => {
  const unavailable = renderDemoPage(sample({ status: 'unavailable', reason: 'module <missing>' }));
  assert.ok(unavailable.includes('The evaluation module is not available in this checkout: module &lt;missing&gt;'));
  assert.ok(!unavailable.includes('part consistency of the prototypes'), 'no consistency tile without an evaluation');
  assert.ok(!unavailable.includes('21 \u00d7 21'));
  const failed = renderDemoPage(sample({ status: 'failed', reason: 'boom' }));
  assert.ok(failed.includes('The evaluation failed: boom'));
  const bad = renderDemoPage(sample({ ...DONE, checks: { passed: false, failures: ['fidelity: agreement 99%'] } } as PageEvaluation));
  assert.ok(bad.includes('<li>fidelity: agreement 99%</li>') && !bad.includes('All guarantees hold'));
});

test('brokenReferences finds missing files and links that leave the folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-page-'));
  try {
    await mkdir(join(dir, 'a b'));
    await writeFile(join(dir, 'a b', 'x.png'), 'x');
    await writeFile(join(dir, 'outside.png'), 'x');
    const html = (refs: string[]) => refs.map((r) => `<img src="${r}" alt="x"><a href="${r}">x</a>`).join('');
    assert.deepEqual(await brokenReferences(html(['a%20b/x.png', '#top']), dir), []);
    const problems = await brokenReferences(html(['a%20b/missing.png', 'a b/../../outside.png', '/etc/passwd', 'http://example.org/', 'a%20b']), join(dir));
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems.join('\n'), /a%20b\/missing\.png: no such file/);
    assert.match(problems.join('\n'), /outside the page's folder/);
    assert.match(problems.join('\n'), /\/etc\/passwd: not a relative link/);
    assert.match(problems.join('\n'), /a%20b: no such file/, 'a folder is not a file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
