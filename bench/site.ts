/**
 * The static site in headless Chromium on the demo network: how long until the first explanation and
 * per image after it, and how closely the browser agrees with `protolens explain` in Node.
 *
 * - speed: site written (`writeSite`), then per mode (one thread; cross-origin isolated, threads):
 *   navigation to model ready, the first explanation (warm-up included), and the median / p90 of the
 *   next images (the app's own timings: decode + preprocess, model, pictures + card);
 * - agreement on the demo's test images (JPEG): the browser's preprocessed pixels against sharp's
 *   (largest level difference, share of values that differ), its logits and contributions against
 *   Node's on the same file, and against Node's on exactly the pixels the browser saw (the model
 *   part alone); the same images as PNG: pixels must be identical.
 *
 * With --model resnet50 (or resnet34) the network is a torchvision-shaped model with random weights,
 * 1000 classes, k (default 10) prototypes per class, and the images synthetic 500 x 375 JPEGs.
 *
 *   npm run demo   # once, for demo-output/network and the dataset
 *   node --import tsx bench/site.ts [--net demo-output/network] [--images 40]
 *   node --import tsx bench/site.ts --model resnet50 [--k 10] [--images 6]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { openDataset } from '../src/data/open.ts';
import { decodeForDisplay } from '../src/data/load.ts';
import { validatePreprocessConfig } from '../src/data/preprocess-config.ts';
import { explainImages, type ImageExplanation } from '../src/explain/explain.ts';
import { loadNetwork } from '../src/network/artifact.ts';
import { writeSite } from '../src/site/write-site.ts';
import { openBrowser } from '../test/helpers/browser.ts';
import { serveFolder } from '../test/site/static-server.ts';
import { buildResNet } from '../test/helpers/synthetic-nets.ts';
import { writeUniformNetwork } from '../test/helpers/uniform-network.ts';

const { values } = parseArgs({
  options: { net: { type: 'string', default: 'demo-output/network' }, images: { type: 'string', default: '40' }, model: { type: 'string' }, k: { type: 'string', default: '10' } },
});
const N = Number(values.images);
const dir = await mkdtemp(join(tmpdir(), 'protolens-bench-site-'));
let netDir: string;
let jpegs: string[];
if (values.model !== undefined) {
  // A torchvision-shaped model with random weights, 1000 classes, prototypes = the head split uniformly.
  if (values.model !== 'resnet50' && values.model !== 'resnet34') throw new Error(`--model: expected resnet34 or resnet50, got '${values.model}'`);
  const net = buildResNet(values.model === 'resnet50' ? 50 : 34);
  netDir = (await writeUniformNetwork(dir, values.model, net, Number(values.k), 2)).netDir;
  jpegs = [];
  for (let i = 0; i < N; i++) {
    const raw = Buffer.alloc(500 * 375 * 3);
    for (let p = 0; p < raw.length; p++) raw[p] = ((Math.floor(p / 3) % 500) * (0.3 + 0.1 * i) + ((p % 3) * 60 + Math.floor(p / 1500) * 0.5)) % 256;
    const file = join(dir, `photo-${i}.jpg`);
    await writeFile(file, await sharp(raw, { raw: { width: 500, height: 375, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    jpegs.push(file);
  }
} else {
  netDir = resolve(values.net!);
  jpegs = [];
}
const network = await loadNetwork(netDir).catch((e) => {
  console.error(`bench/site: ${(e as Error).message}\nrun 'npm run demo' first (or pass --net or --model)`);
  process.exit(2);
});
const cfg = { ...validatePreprocessConfig(network.manifest.preprocess, 'manifest'), cropToBox: false };
if (values.model === undefined) {
  const test = await openDataset(resolve(netDir, network.manifest.dataset.root), { format: 'cub', split: 'test' });
  const all: string[] = [];
  for await (const it of test.items()) all.push(it.path);
  const step = Math.max(1, Math.floor(all.length / N));
  jpegs = all.filter((_, i) => i % step === 0).slice(0, N);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.9 * xs.length))];
const r = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return m;
};
async function nodeExplain(paths: string[], classIndex?: number): Promise<ImageExplanation[]> {
  const out: ImageExplanation[] = [];
  for await (const x of explainImages(network, paths, { keepRgb: true, ...(classIndex !== undefined ? { classIndex } : {}) })) {
    if (x.status !== 'ok') throw new Error(`${x.image}: ${x.reason}`);
    out.push(x);
  }
  return out;
}

try {
  const load0 = loadavg()[0];
  const t0 = performance.now();
  const site = await writeSite({ net: network, out: join(dir, 'site') });
  const writeMs = performance.now() - t0;
  // PNG copies of the test images (sharp's decode, full size): the browser must see identical pixels.
  const pngs: string[] = [];
  for (const [i, p] of jpegs.entries()) {
    const png = join(dir, `img-${i}.png`);
    await sharp(p).png().toFile(png);
    pngs.push(png);
  }
  const reference = await nodeExplain(jpegs);
  const referencePng = await nodeExplain(pngs);

  const speed: Record<string, unknown> = {};
  const agreement: Record<string, unknown> = {};
  for (const isolated of [false, true]) {
    const server = await serveFolder(site.dir, { isolated, cache: true });
    const browser = await openBrowser();
    try {
      const { page } = browser;
      const g0 = performance.now();
      await page.goto(server.url);
      const ready = await page.evaluate(() => window.protolensSite.ready);
      const readyMs = performance.now() - g0;
      const explainOne = async (file: string) => {
        await page.evaluate(() => (window.protolensSite.last = null));
        await page.setInputFiles('#file', file);
        await page.waitForFunction(() => window.protolensSite.last !== null || document.getElementById('status')!.className === 'error', null, { timeout: 60_000 });
        const last = await page.evaluate(() => window.protolensSite.last);
        if (!last) throw new Error(`${file}: ${await page.textContent('#status')}`);
        const input = await page.evaluate(() => Array.from(window.protolensSite.lastInput!.data));
        return { last, input };
      };
      const first = await explainOne(jpegs[0]);
      const firstMs = performance.now() - g0;
      const totals: number[] = [], model: number[] = [], pre: number[] = [], render: number[] = [];
      const levels = { max: 0, differing: 0, values: 0, sumAbs: 0 };
      let logitsVsFile = 0, contribVsFile = 0, logitsVsPixels = 0, contribVsPixels = 0, sameClass = 0;
      for (const [i, file] of jpegs.entries()) {
        const { last, input } = i === 0 ? first : await explainOne(file);
        if (i > 0) {
          totals.push(last.timings.total);
          model.push(last.timings.model);
          pre.push(last.timings.preprocess);
          render.push(last.timings.render);
        }
        if (isolated) continue; // agreement once
        const node = (await decodeForDisplay(file, cfg)).input.data;
        for (let j = 0; j < input.length; j++) {
          const d = Math.abs(input[j] - node[j]);
          levels.max = Math.max(levels.max, d);
          levels.sumAbs += d;
          if (d > 0) levels.differing++;
        }
        levels.values += input.length;
        const ref = reference[i];
        if (last.explainedClass === ref.explained.index) sameClass++;
        logitsVsFile = Math.max(logitsVsFile, maxRel(last.logits, ref.logits));
        if (last.explainedClass === ref.explained.index) contribVsFile = Math.max(contribVsFile, maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)));
        const seen = join(dir, `seen-${i}.png`);
        await sharp(Buffer.from(input), { raw: { width: last.input.width, height: last.input.height, channels: 3 } }).png().toFile(seen);
        const [onPixels] = await nodeExplain([seen], last.explainedClass);
        logitsVsPixels = Math.max(logitsVsPixels, maxRel(last.logits, onPixels.logits));
        contribVsPixels = Math.max(contribVsPixels, maxRel(last.contributions, onPixels.explained.prototypes.map((p) => p.contribution)));
      }
      let pngIdentical = 0, pngLogits = 0, pngContrib = 0;
      if (!isolated) {
        for (const [i, file] of pngs.entries()) {
          const { last, input } = await explainOne(file);
          const ref = referencePng[i];
          if (input.every((v, j) => v === ref.rgb!.data[j])) pngIdentical++;
          pngLogits = Math.max(pngLogits, maxRel(last.logits, ref.logits));
          pngContrib = Math.max(pngContrib, maxRel(last.contributions, ref.explained.prototypes.map((p) => p.contribution)));
        }
        agreement.jpeg = {
          images: jpegs.length,
          pixelLevels: { max: levels.max, mean: r(levels.sumAbs / levels.values, 4), differingShare: r(levels.differing / levels.values, 4) },
          sameExplainedClass: sameClass,
          vsNodeOnTheFile: { logitsMaxRel: logitsVsFile, contributionsMaxRel: contribVsFile },
          vsNodeOnTheBrowsersPixels: { logitsMaxRel: logitsVsPixels, contributionsMaxRel: contribVsPixels },
        };
        agreement.png = { images: pngs.length, identicalPixels: pngIdentical, logitsMaxRel: pngLogits, contributionsMaxRel: pngContrib };
      }
      // A repeat visit: files from the HTTP cache, the compiled wasm from the browser's code cache.
      const v0 = performance.now();
      await page.goto(server.url);
      const again = await page.evaluate(() => window.protolensSite.ready);
      const repeatReadyMs = performance.now() - v0;
      const repeat = await explainOne(jpegs[1 % jpegs.length]);
      const repeatFirstMs = performance.now() - v0;
      speed[isolated ? 'crossOriginIsolated' : 'plain'] = {
        repeatVisit: { pageToModelReadyMs: r(repeatReadyMs), modelLoadMsInPage: r(again.loadMs), pageToFirstCardMs: r(repeatFirstMs), firstExplanationMs: r(repeat.last.timings.total) },
        threads: ready.threads,
        pageToModelReadyMs: r(readyMs),
        modelLoadMsInPage: r(ready.loadMs),
        modelLoadPhasesMs: Object.fromEntries(Object.entries(ready.phases).map(([k, v]) => [k, r(v)])),
        pageToFirstCardMs: r(firstMs),
        firstExplanationMs: r(first.last.timings.total),
        perImageMs: { median: r(median(totals)), p90: r(p90(totals)), preprocess: r(median(pre)), model: r(median(model)), picturesAndCard: r(median(render)) },
      };
    } finally {
      await browser.close();
      await server.close();
    }
  }
  console.log(
    JSON.stringify(
      {
        bench: 'site',
        network: values.model ?? netDir,
        classes: site.classes,
        k: site.k,
        input: cfg.size,
        site: { writeMs: r(writeMs), megabytes: r(site.bytes / 1e6, 2), modelMegabytes: r(site.model.bytes / 1e6, 2), files: site.files, ortWeb: site.ort.version },
        speed,
        agreement,
        loadAverage: [r(load0, 2), r(loadavg()[0], 2)],
      },
      null,
      2,
    ),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
