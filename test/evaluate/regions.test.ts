// Distinctiveness and comprehensiveness (PNP's definitions, docs/metric-references.md) on hand-computed
// cases, PyTorch's resizes on values known from PyTorch, and the metrics end to end on the planted
// network (test/evaluate/planted-net.ts, whose fixture writes foreground masks).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nearestExactIndex, resizeBilinearTorch } from '../../src/pictures/resize-torch.ts';
import { boxSizeFor, centredBoxIoU, mapForeground, mapPeaks, maskIoU, meanPairIoU, protocolMask } from '../../src/evaluate/protocols/regions.ts';
import { evaluateNetwork } from '../../src/evaluate/evaluate-network.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { consistencyPlotSvg } from '../../src/evaluate/output/plots.ts';
import { makePlantedFixture, K, type PlantedFixture } from './planted-net.ts';

test('bilinear (align_corners=False) 2 x 2 -> 4 x 4 is what F.interpolate returns; NEAREST_EXACT indices', () => {
  // torch.nn.functional.interpolate(torch.arange(4.).view(1, 1, 2, 2), size=(4, 4), mode='bilinear')
  const up = resizeBilinearTorch(Float32Array.from([0, 1, 2, 3]), 2, 2, 4, 4);
  assert.deepEqual(Array.from(up), [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
  // floor((d + 0.5) x 3 / 5), clamped: 0.3, 0.9, 1.5, 2.1, 2.7
  assert.deepEqual(Array.from(nearestExactIndex(3, 5)), [0, 0, 1, 2, 2]);
  // Downsampling 5 -> 2: floor(1.25), floor(3.75)
  assert.deepEqual(Array.from(nearestExactIndex(5, 2)), [1, 3]);
});

test('distinctiveness by hand: box IoU, first maximum, mean over pairs', () => {
  assert.equal(boxSizeFor(224, 224), 72);
  assert.equal(boxSizeFor(64, 64), 21, 'round(72 x 64 / 224) = round(20.57)');
  // Two 72-boxes 36 apart horizontally: intersection 36 x 72 = 2592, union 2 x 5184 - 2592 = 7776.
  assert.equal(centredBoxIoU(0, 0, 0, 36, 72), 1 / 3);
  assert.equal(centredBoxIoU(10, 10, 10, 10, 72), 1);
  assert.equal(centredBoxIoU(0, 0, 72, 0, 72), 0, 'touching boxes do not overlap');
  // Three boxes: (0,0)-(0,36) IoU 1/3, the third far away: mean (1/3 + 0 + 0) / 3.
  assert.equal(meanPairIoU(Int32Array.from([0, 0, 0, 36, 100, 100]), 3, 72), 1 / 9);
  assert.ok(Number.isNaN(meanPairIoU(Int32Array.from([5, 5]), 1, 72)), 'one prototype: no pair');
  // First maximum in row-major order: a tie at (0, 2) and (1, 0) goes to (0, 2).
  const up = Float32Array.from([0, 1, 5, 0, 5, 0, /* map 2 */ 0, 0, 0, 0, 0, 2]);
  assert.deepEqual(Array.from(mapPeaks(up, 2, 2, 3)), [0, 2, 1, 2]);
});

test('comprehensiveness by hand: min-max threshold 0.6, union, flat maps select nothing, mask crop and threshold', () => {
  // Map 1: 0, 0.25, 0.5, 0.75, 1 scaled by 4 (+1): normalised the same; >= 0.6 keeps the last two.
  // Map 2 is flat: 0/0 is NaN, nothing kept. Map 3 keeps the first pixel only.
  const up = Float32Array.from([1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 9, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(mapForeground(up, 3, 1, 5)), [1, 0, 0, 1, 1]);
  const mask = Uint8Array.from([1, 1, 0, 0, 1]);
  // intersection {0, 4} = 2, union {0, 1, 3, 4} = 4
  assert.equal(maskIoU(mapForeground(up, 3, 1, 5), mask), 2 / (4 + 1e-6));
  assert.equal(maskIoU(new Uint8Array(4), new Uint8Array(4)), 0, 'empty against empty: 0 / 1e-6 = 0');
  // A 4-wide, 3-high source mask: row 0 [0 0 0 0], row 1 [201 200 255 0], row 2 [0 255 255 0].
  const src = Uint8Array.from([0, 0, 0, 0, 201, 200, 255, 0, 0, 255, 255, 0]);
  // Crop x 1..4 (x = 4 lies outside the image: zero, as torchvision pads), y 1..2, to 2 x 3:
  // columns floor((d + .5) x 4 / 3) = 0, 2, 3 -> source x 1, 3, 4; rows 0, 1 -> source y 1, 2.
  assert.deepEqual(Array.from(nearestExactIndex(4, 3)), [0, 2, 3]);
  const m = protocolMask(src, 4, 3, { x1: 1, y1: 1, x2: 5, y2: 3 }, 2, 3);
  // row y 1: 200 (not > 200), 0, outside; row y 2: 255, 0, outside
  assert.deepEqual(Array.from(m), [0, 0, 0, 1, 0, 0]);
});

let dir: string;
let fx: PlantedFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'protolens-regions-'));
  fx = await makePlantedFixture(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('end to end on the planted network: scores equal their definitions on the exported per-image values; masks are required when asked for', async () => {
  const out = join(dir, 'eval');
  const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['distinctiveness', 'comprehensiveness'], out });
  assert.deepEqual(r.metricsRun, ['distinctiveness', 'comprehensiveness']);
  const p = r.metrics.parts!;
  assert.equal(p.options.boxSize, 21);
  const { tensors } = await readSafetensors(join(out, 'maps.safetensors'));
  const N = p.images;
  for (const s of ['refined', 'initial', 'random'] as const) {
    const d = p.sets[s]!.distinctiveness!;
    const c = p.sets[s]!.comprehensiveness!;
    assert.equal(d.images, N);
    assert.equal(c.images, N);
    assert.equal(c.imagesWithoutMask, 0);
    // Distinctiveness again from the exported box centres with the closed form I / (2 b^2 - I).
    const peaks = tensors[`region_peaks_${s}`].data as Int32Array;
    let total = 0;
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let i = 0; i < K; i++) {
        for (let j = i + 1; j < K; j++) {
          const [yi, xi, yj, xj] = [peaks[(n * K + i) * 2], peaks[(n * K + i) * 2 + 1], peaks[(n * K + j) * 2], peaks[(n * K + j) * 2 + 1]];
          const inter = Math.max(0, 21 - Math.abs(xi - xj)) * Math.max(0, 21 - Math.abs(yi - yj));
          sum += inter / (2 * 21 * 21 - inter);
        }
      }
      total += sum / 3;
    }
    assert.ok(Math.abs(d.score! - 100 * (1 - total / N)) < 1e-9, `${s}: ${d.score} vs ${100 * (1 - total / N)}`);
    const fg = tensors[`foreground_iou_${s}`].data as Float64Array;
    assert.ok(Math.abs(c.score! - (100 * fg.reduce((a, b) => a + b, 0)) / N) < 1e-9);
    for (const v of fg) assert.ok(v >= 0 && v <= 1);
  }
  // The plot draws a bar group for each metric run: consistency, then the two region metrics (no stability here).
  const svg = consistencyPlotSvg(p);
  const labels = [...svg.matchAll(/text-anchor="middle"[^>]*>([a-z.]+)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(labels, ['consistency', 'distinct.', 'comprehens.']);
  // The markers network's refined maps peak on the three part markers, which the fixture places apart:
  // its boxes overlap less than the random split's.
  assert.ok(p.sets.refined!.distinctiveness!.score! >= p.sets.random!.distinctiveness!.score! - 1e-9);

  // A dataset without masks: skipped with a warning by default, an InputError when asked for.
  const { cpSync } = await import('node:fs');
  const bare = join(dir, 'cub-bare');
  cpSync(fx.cub.root, bare, { recursive: true });
  rmSync(join(bare, 'segmentations'), { recursive: true });
  const skipped = await evaluateNetwork({ net: fx.markers, data: bare, metrics: undefined, maxImages: 3, deletion: { images: 1 } });
  assert.ok(!skipped.metricsRun.includes('comprehensiveness'));
  assert.ok(skipped.metricsRun.includes('distinctiveness'));
  assert.match(skipped.warnings.join('\n'), /comprehensiveness skipped: dataset .* has no foreground masks/);
  await assert.rejects(evaluateNetwork({ net: fx.markers, data: bare, metrics: ['comprehensiveness'] }), /comprehensiveness needs foreground masks in CUB's layout \(segmentations\/<class>\/<image>\.png\)/);
});

test('the viewer with --evaluation shows each class\'s distinctiveness and comprehensiveness and each prototype\'s part; a report of another network is refused', async () => {
  const out = join(dir, 'eval-viewer');
  const r = await evaluateNetwork({ net: fx.markers, data: fx.cub.root, metrics: ['consistency', 'distinctiveness', 'comprehensiveness'], out });
  const { startViewer } = await import('../../src/viewer/server.ts');
  const v = await startViewer({ net: fx.markers, port: 0, evaluation: out });
  try {
    const html = await (await fetch(v.url)).text();
    for (let c = 0; c < 3; c++) {
      const d = r.metrics.parts!.sets.refined!.distinctiveness!.perClass[c].score!;
      const f = r.metrics.parts!.sets.refined!.comprehensiveness!.perClass[c].score!;
      const line = html.match(new RegExp(`<span class="diag" data-class="${c}">.*?</span></span>`))?.[0] ?? '';
      assert.ok(line.includes(`distinct ${d.toFixed(1)}`) && line.includes(`on object ${f.toFixed(1)}`), `class ${c}: ${line}`);
    }
    assert.match(html, /class="part ok"[^>]*>beak 100%/, 'the refined prototype 0 of the markers network is consistent on its part');
  } finally {
    await v.close();
  }
  const { writeFileSync, readFileSync } = await import('node:fs');
  const other = join(dir, 'other-eval.json');
  writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8')), network: { classes: 5, k: 3 } }));
  await assert.rejects(startViewer({ net: fx.markers, port: 0, evaluation: other }), /evaluates a network of 5 classes x k = 3, this one has 3 x 3/);
  await assert.rejects(startViewer({ net: fx.markers, port: 0, evaluation: join(dir, 'nothing') }), /evaluation .*nothing: not found/);
});
