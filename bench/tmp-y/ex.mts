import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRgb } from '../../src/data/decode.ts';
import { toInputRgb } from '../../src/data/preprocess.ts';
import { encodeJpeg } from '../../src/data/load.ts';
import { makePreprocessConfig } from '../../src/data/preprocess-config.ts';
import { ExemplarScorer, renderClassExemplars } from '../../src/builder/exemplars.ts';
import { Rng } from '../../src/util/random.ts';
const cfg = makePreprocessConfig({ size: 224 });
const root = '.cache/bench-cub-scale/data-200x30';
const dir = join(root, '001.class_0');
const files = readdirSync(dir).sort();
const items = files.map((f, index) => ({ id: f, path: join(dir, f), index, label: 0 }));
const pictures: Uint8Array[] = [];
for (const it of items) { const src = await decodeRgb(it.path, cfg); const { rgb } = await toInputRgb(src, it, cfg); pictures.push(await encodeJpeg(rgb, 90)); }
const rng = new Rng(1);
const n = items.length, hw = 49, D = 512, k = 10;
const features = Float32Array.from({ length: n * hw * D }, () => Math.max(0, rng.normal()));
const prototypes = Float32Array.from({ length: k * D }, () => rng.normal());
const scorer = await ExemplarScorer.create();
const runs = Number(process.argv[2] ?? 5);
for (let r = 0; r < runs; r++) {
  const c0 = process.cpuUsage(); const t = performance.now();
  const out = await renderClassExemplars(scorer, { classIndex: 0, className: 'c', features, items, pictures, prototypes, k, H: 7, W: 7, D }, { datasetRoot: root, preprocess: cfg });
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ wallMs: Math.round(performance.now() - t), cpuMs: Math.round((c.user + c.system) / 1000), pictures: out.files.length, bytes: out.files.reduce((a, f) => a + f.bytes.length, 0) }));
}
await scorer.close();
