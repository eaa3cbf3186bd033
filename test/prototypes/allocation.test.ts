import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decomposeClass, type ClassDecomposition } from '../../src/prototypes/decompose.ts';
import { type DecomposeOptions } from '../../src/prototypes/options.ts';
import { plantedClass } from './planted.ts';

/**
 * The planted case with signed head vectors: 3 parts, 3 background components the head weighs
 * negatively, a random signed component; the residual is most of v (||R|| / ||v|| about 0.8).
 */
const signedCase = (seed: number) =>
  plantedClass({ n: 20, side: 6, d: 128, k: 3, seed, noise: 0.05, signed: 0.5, background: 3, backgroundStrength: 0.5, partChannels: 0.6 });
const seeds = [1, 2, 3, 4, 5, 6];

async function runAll(options: DecomposeOptions): Promise<ClassDecomposition[]> {
  const out: ClassDecomposition[] = [];
  for (const seed of seeds) out.push(await decomposeClass({ ...signedCase(seed), classIndex: seed }, { k: 3, ...options }));
  return out;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

test('default allocator: objective at most the uniform split on every class; mean part fidelity >= 0.85 at k = 3', async () => {
  const rs = await runAll({});
  for (const r of rs) {
    assert.ok(r.diagnostics.objectiveChosen <= r.diagnostics.objectiveUniform, `class ${r.classIndex}: ${r.diagnostics.objectiveChosen} > uniform ${r.diagnostics.objectiveUniform}`);
    assert.ok(r.diagnostics.residualRatio > 0.6, `class ${r.classIndex}: the residual is most of v (${r.diagnostics.residualRatio})`);
  }
  const fid = mean(rs.map((r) => r.diagnostics.meanPartFidelity));
  const fidUniform = mean(rs.map((r) => mean(Array.from(r.diagnostics.partFidelityUniform))));
  assert.ok(fid >= 0.85, `mean part fidelity ${fid.toFixed(4)}`);
  assert.ok(fid > fidUniform + 0.1, `the split matters here: default ${fid.toFixed(3)} vs uniform ${fidUniform.toFixed(3)}`);
  // What the consistency protocol reads: the refined maps peak where the NMF maps do.
  const peaks = mean(rs.map((r) => mean(Array.from(r.diagnostics.peakAgreement))));
  const peaksUniform = mean(rs.map((r) => mean(Array.from(r.diagnostics.peakAgreementUniform))));
  assert.ok(peaks >= 0.95, `peak agreement ${peaks.toFixed(3)}`);
  assert.ok(peaks > peaksUniform + 0.1, `default ${peaks.toFixed(3)} vs uniform ${peaksUniform.toFixed(3)}`);
});

test('the previous default (channel-wise gradient split, uncentred maps, no peak term) keeps fidelity but loses peaks the default keeps', async () => {
  const old = await runAll({ allocator: 'gradient', norm: 'image-l2', peakWeight: 0 });
  const now = await runAll({});
  const fid = mean(old.map((r) => r.diagnostics.meanPartFidelity));
  assert.ok(fid >= 0.85, `mean part fidelity ${fid.toFixed(4)}`);
  const peaksOld = mean(old.map((r) => mean(Array.from(r.diagnostics.peakAgreement))));
  const peaksNow = mean(now.map((r) => mean(Array.from(r.diagnostics.peakAgreement))));
  assert.ok(peaksNow > peaksOld + 0.1, `peak agreement: default ${peaksNow.toFixed(3)} vs previous ${peaksOld.toFixed(3)}`);
});

test('every allocator is at most the uniform split on the objective it optimises (paper preset, softmax L-BFGS, class-l2 norm)', async () => {
  const variants: DecomposeOptions[] = [
    { preset: 'paper', nelderMead: { maxEvaluations: 200 } },
    { gradient: { method: 'softmax-lbfgs', maxIterations: 30 } },
    { norm: 'class-l2', gradient: { maxIterations: 30 } },
    { allocator: 'free', gradient: { maxIterations: 30 } },
    { allocator: 'free', peakWeight: 16, peakTemperature: 120, gradient: { maxIterations: 30 } },
    { allocator: 'free', freeHoldout: 0.2, gradient: { maxIterations: 30 } },
    { peakWeight: 4, peakTemperature: 30, gradient: { maxIterations: 30 } },
  ];
  for (const options of variants) {
    for (const seed of [1, 2]) {
      const r = await decomposeClass(signedCase(seed), { k: 3, ...options });
      assert.ok(r.diagnostics.objectiveChosen <= r.diagnostics.objectiveUniform, `${JSON.stringify(options)}, seed ${seed}`);
      assert.ok(r.diagnostics.objectiveChosen < 0.99 * r.diagnostics.objectiveUniform, `${JSON.stringify(options)} improves on uniform`);
    }
  }
});

test('free split: shares move only where the features can show them; channels no image uses keep the uniform share', async () => {
  const c = signedCase(3);
  // Silence 20 channels in every image: F has no row-space component there.
  const dead = Array.from({ length: 20 }, (_, j) => 5 + 6 * j);
  for (let r = 0; r < c.n * c.hw; r++) for (const ch of dead) c.F[r * c.d + ch] = 0;
  const r = await decomposeClass(c, { k: 3, allocator: 'free', peakWeight: 4, gradient: { maxIterations: 40 } });
  assert.ok(r.diagnostics.objectiveChosen < 0.9 * r.diagnostics.objectiveUniform, 'the free split improves on the uniform split here');
  let moved = 0;
  for (let i = 0; i < 3; i++) {
    for (let ch = 0; ch < r.d; ch++) {
      const uniformShare = r.alpha[i] * r.initialPrototypes[i * r.d + ch] + r.residual[ch] / 3;
      const diff = Math.abs(r.prototypes[i * r.d + ch] - uniformShare);
      if (dead.includes(ch)) assert.ok(diff <= 1e-6 * Math.max(1e-30, Math.abs(uniformShare)) + 1e-7 * Math.hypot(...r.residual), `prototype ${i}, silent channel ${ch}: moved by ${diff}`);
      else moved = Math.max(moved, diff);
    }
  }
  assert.ok(moved > 1e-3 * Math.hypot(...r.residual), 'the shares did move in the channels the features use');
  // The ridge term keeps every share near the uniform split's size (the maps alone ignore scale).
  const rNorm = Math.hypot(...r.residual);
  for (let i = 0; i < 3; i++) {
    let dev = 0;
    for (let ch = 0; ch < r.d; ch++) dev += (r.prototypes[i * r.d + ch] - r.alpha[i] * r.initialPrototypes[i * r.d + ch] - r.residual[ch] / 3) ** 2;
    assert.ok(Math.sqrt(dev) <= 2 * rNorm, `prototype ${i}: share moved by ${Math.sqrt(dev)} (||R|| = ${rNorm})`);
  }
});

test('the paper preset is least squares, objective on r_i, Nelder-Mead; its residual is orthogonal to every prototype', async () => {
  const r = await decomposeClass(signedCase(1), { k: 3, preset: 'paper', nelderMead: { maxEvaluations: 100 } });
  assert.equal(r.options.scaling, 'lstsq');
  assert.equal(r.options.objective, 'residual');
  assert.equal(r.options.allocator, 'nelder-mead');
  // At the least-squares optimum the residual is orthogonal to every prototype.
  for (let i = 0; i < 3; i++) {
    let dot = 0;
    let pp = 0;
    for (let c = 0; c < r.d; c++) {
      dot += r.residual[c] * r.initialPrototypes[i * r.d + c];
      pp += r.initialPrototypes[i * r.d + c] ** 2;
    }
    assert.ok(Math.abs(dot) <= 1e-6 * Math.sqrt(pp) * Math.hypot(...r.residual), `R . p_${i} = ${dot}`);
  }
});

test('a prototype below the part-fidelity threshold is reported; residual-term keeps the NMF parts and the exact sum', async () => {
  const input = signedCase(2);
  const base = await decomposeClass(input, { k: 3, gradient: { maxIterations: 40 } });
  const fid = Array.from(base.diagnostics.partFidelity);
  // A threshold between the prototypes' fidelities: exactly those below it are reported, nothing changes.
  const threshold = [...fid].sort((a, b) => a - b)[1];
  const reported = await decomposeClass(input, { k: 3, gradient: { maxIterations: 40 }, minPartFidelity: threshold });
  const below = fid.flatMap((f, i) => (f < threshold ? [i] : []));
  assert.ok(below.length >= 1);
  assert.deepEqual(reported.diagnostics.lowFidelity.prototypes, below);
  assert.equal(reported.diagnostics.lowFidelity.fallback, null);
  assert.deepEqual(Array.from(reported.prototypes), Array.from(base.prototypes), 'reporting changes nothing');
  assert.equal(reported.diagnostics.warnings.filter((w) => /has part fidelity .* < /.test(w)).length, below.length);
  assert.deepEqual((await decomposeClass(input, { k: 3, gradient: { maxIterations: 40 } })).diagnostics.lowFidelity.prototypes, fid.flatMap((f, i) => (f < 0.5 ? [i] : [])), 'default threshold 0.5');
  // Fallback: every prototype is its scaled NMF part (fidelity 1 with NNLS), the residual an explicit term.
  const fallback = await decomposeClass(input, { k: 3, gradient: { maxIterations: 40 }, minPartFidelity: threshold, lowFidelity: 'residual-term' });
  assert.equal(fallback.diagnostics.lowFidelity.fallback, 'residual-term');
  for (const f of fallback.diagnostics.partFidelity) assert.ok(Math.abs(f - 1) < 1e-9, `fidelity ${f}`);
  const { d } = input;
  let maxErr = 0, maxV = 0;
  for (let j = 0; j < d; j++) {
    let s = fallback.residualTerm![j];
    for (let i = 0; i < 3; i++) s += fallback.prototypes[i * d + j];
    maxErr = Math.max(maxErr, Math.abs(s - input.v[j]));
    maxV = Math.max(maxV, Math.abs(input.v[j]));
  }
  assert.ok(maxErr <= 1e-6 * maxV, `prototypes + residual term = v: ${maxErr}`);
  assert.ok(fallback.residualTerm!.some((x) => x !== 0));
});
