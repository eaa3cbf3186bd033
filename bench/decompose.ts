/**
 * Benchmark of the per-class step (NMF + scaling + residual split + exact storage) on synthetic,
 * seeded planted classes: 30 images of 7 x 7 positions, 512 channels (1470 x 512 per class).
 * Prints JSON.
 *
 *   node --import tsx bench/decompose.ts                 200 classes at k = 10, then at k = 3
 *   node --import tsx bench/decompose.ts --classes 50 --k 10 --threads 2 [--options JSON]
 *   node --import tsx bench/decompose.ts --compare       scaling x objective x allocator table
 *                                                        (docs/method-choices.md)
 *
 * Planted class c (seed c): k parts with disjoint channel supports and one blob per part per image,
 * 3 broad background components the head weighs negatively, Gaussian noise (0.05) clipped at 0, and
 * a head vector = positive mix of the parts + a signed component (relative norm 0.5 by default).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { decomposeClassesStream, type ClassLoader } from '../src/prototypes/parallel.ts';
import { type ClassDecomposition } from '../src/prototypes/decompose.ts';
import { type DecomposeOptions } from '../src/prototypes/options.ts';
import { plantedClass, type PlantedOptions } from '../test/prototypes/planted.ts';

const { values } = parseArgs({
  options: {
    classes: { type: 'string' },
    k: { type: 'string', default: '10,3' },
    threads: { type: 'string' },
    compare: { type: 'boolean', default: false },
    n: { type: 'string', default: '30' },
    side: { type: 'string', default: '7' },
    d: { type: 'string', default: '512' },
    options: { type: 'string' },
  },
});
const threads = values.threads ? Number(values.threads) : availableParallelism();
const geometry = { n: Number(values.n), side: Number(values.side), d: Number(values.d) };

interface Regime {
  name: string;
  planted: Omit<PlantedOptions, 'seed' | 'k' | 'n' | 'side' | 'd'>;
}
const REGIMES: Regime[] = [
  { name: 'background, signed 0.5', planted: { noise: 0.05, signed: 0.5, background: 3, backgroundStrength: 0.5, partChannels: 0.6 } },
  { name: 'background, signed 1', planted: { noise: 0.05, signed: 1, background: 3, backgroundStrength: 0.5, partChannels: 0.6 } },
  { name: 'parts only, signed 1', planted: { noise: 0.05, signed: 1, background: 0, partChannels: 0.6 } },
];

function loader(count: number, k: number, regime: Regime, loadSeconds: { total: number }): ClassLoader {
  return {
    count,
    load(c) {
      const t = performance.now();
      const cls = plantedClass({ ...geometry, k, seed: 1000 + c, ...regime.planted });
      loadSeconds.total += (performance.now() - t) / 1000;
      return { F: cls.F, n: cls.n, hw: cls.hw, d: cls.d, v: cls.v, classIndex: c };
    },
  };
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const round = (x: number, digits = 4) => Number(x.toFixed(digits));

async function run(count: number, k: number, regime: Regime, options: DecomposeOptions) {
  const load = { total: 0 };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results: ClassDecomposition[] = [];
  for await (const r of decomposeClassesStream(loader(count, k, regime, load), { ...options, k, threads })) results.push(r);
  const total = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const dg = results.map((r) => r.diagnostics);
  return {
    classes: count,
    k,
    threads,
    regime: regime.name,
    options: results[0].options,
    totalSeconds: round(total, 2),
    /** CPU seconds of the whole process (main thread, where the data is generated, and workers). */
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    dataGenerationSeconds: round(load.total, 2),
    perClassMedianSeconds: { total: round(median(results.map((r) => r.timing.total))), nmf: round(median(results.map((r) => r.timing.nmf))), refine: round(median(results.map((r) => r.timing.refine))) },
    allocatorEvaluationsMedian: median(dg.map((d) => d.allocatorEvaluations)),
    nmfRelErrorMean: round(mean(dg.map((d) => d.nmfRelError))),
    residualRatioMean: round(mean(dg.map((d) => d.residualRatio))),
    meanPartFidelity: round(mean(dg.map((d) => d.meanPartFidelity))),
    meanPartFidelityUniform: round(mean(dg.map((d) => mean(Array.from(d.partFidelityUniform))))),
    objectiveRatioVsUniform: { mean: round(mean(dg.map((d) => d.objectiveRatio))), max: round(Math.max(...dg.map((d) => d.objectiveRatio))) },
    exactness: { maxErrorOverTolerance: round(Math.max(...dg.map((d) => (d.exactness.tolerance > 0 ? d.exactness.maxAbsError / d.exactness.tolerance : 0))), 6) },
  };
}

const ks = values.k!.split(',').map(Number);
if (!values.compare) {
  const count = Number(values.classes ?? 200);
  const out = [];
  // --options '{"allocator":"gradient","norm":"image-l2","peakWeight":0}': decomposition options (default: the defaults).
  const options = values.options ? (JSON.parse(values.options) as DecomposeOptions) : {};
  for (const k of ks) out.push(await run(count, k, REGIMES[0], options));
  console.log(JSON.stringify({ benchmark: 'decompose', geometry: { ...geometry, hw: geometry.side ** 2 }, runs: out }, null, 2));
} else {
  const count = Number(values.classes ?? 12);
  const configs: { label: string; options: DecomposeOptions }[] = [
    { label: 'lstsq / residual / uniform', options: { scaling: 'lstsq', objective: 'residual', allocator: 'uniform' } },
    { label: 'lstsq / residual / nelder-mead (paper)', options: { preset: 'paper' } },
    { label: 'lstsq / residual / gradient', options: { scaling: 'lstsq', objective: 'residual', allocator: 'gradient' } },
    { label: 'lstsq / prototype / nelder-mead', options: { scaling: 'lstsq', objective: 'prototype', allocator: 'nelder-mead' } },
    { label: 'lstsq / prototype / gradient', options: { scaling: 'lstsq', objective: 'prototype', allocator: 'gradient' } },
    { label: 'nnls / prototype / uniform', options: { scaling: 'nnls', objective: 'prototype', allocator: 'uniform' } },
    { label: 'nnls / prototype / nelder-mead', options: { scaling: 'nnls', objective: 'prototype', allocator: 'nelder-mead' } },
    { label: 'nnls / prototype / gradient softmax-lbfgs', options: { scaling: 'nnls', objective: 'prototype', allocator: 'gradient', gradient: { method: 'softmax-lbfgs' } } },
    { label: 'nnls / prototype / gradient spg', options: { allocator: 'gradient', norm: 'image-l2', peakWeight: 0 } },
    { label: 'nnls / prototype / free, centred, peak (default)', options: {} },
    { label: 'nnls / prototype / none', options: { scaling: 'nnls', objective: 'prototype', allocator: 'none' } },
  ];
  const rows = [];
  for (const regime of REGIMES) {
    for (const k of ks) {
      for (const c of configs) {
        const r = await run(count, k, regime, c.options);
        rows.push({
          regime: regime.name,
          k,
          config: c.label,
          nmfRelError: r.nmfRelErrorMean,
          residualRatio: r.residualRatioMean,
          meanPartFidelity: r.meanPartFidelity,
          objectiveRatioVsUniform: r.objectiveRatioVsUniform.mean,
          perClassMedianSeconds: r.perClassMedianSeconds.total,
        });
        console.error(JSON.stringify(rows[rows.length - 1]));
      }
    }
  }
  console.log(JSON.stringify({ benchmark: 'decompose --compare', classesPerCell: count, threads, geometry: { ...geometry, hw: geometry.side ** 2 }, rows }, null, 2));
}
