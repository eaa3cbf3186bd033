import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/util/errors.ts';
import { decomposeClass } from '../../src/prototypes/decompose.ts';
import { DEFAULT_PRESET, PAPER_PRESET, resolveOptions } from '../../src/prototypes/options.ts';

test('presets fill scaling, objective and allocator; explicit fields override them', () => {
  const d = resolveOptions();
  assert.deepEqual([d.scaling, d.objective, d.allocator], [DEFAULT_PRESET.scaling, DEFAULT_PRESET.objective, DEFAULT_PRESET.allocator]);
  assert.equal(d.k, 3);
  assert.equal(d.seed, 0);
  assert.deepEqual([d.norm, d.peak.weight, d.peak.temperature, d.freeRidge], ['image-centred', 16, 120, 0.01]);
  assert.equal(d.kAuto, null);
  assert.equal(d.gradient.method, 'spg');
  const p = resolveOptions({ preset: 'paper' });
  assert.deepEqual([p.scaling, p.objective, p.allocator], [PAPER_PRESET.scaling, PAPER_PRESET.objective, PAPER_PRESET.allocator]);
  assert.deepEqual([p.scaling, p.objective, p.allocator], ['lstsq', 'residual', 'nelder-mead']);
  assert.deepEqual([p.norm, p.peak.weight], ['image-l2', 0], 'the paper preset has no centring and no peak term');
  assert.deepEqual([d.allocator, d.scaling, d.objective], ['free', 'nnls', 'prototype']);
  const a = resolveOptions({ k: 'auto' });
  assert.deepEqual([a.k, a.kAuto], [10, { minGain: 0.02, minRatio: 0.1 }], "k 'auto' records kMax as k");
  const o = resolveOptions({ preset: 'paper', scaling: 'nnls', k: 10 });
  assert.equal(o.scaling, 'nnls');
  assert.equal(o.allocator, 'nelder-mead');
  assert.equal(o.k, 10);
});

test('bad options are InputErrors naming the option and what was expected', () => {
  const cases: [object, RegExp][] = [
    [{ k: 0 }, /option k: expected an integer >= 1/],
    [{ k: 2.5 }, /option k/],
    [{ preset: 'fast' }, /option preset: expected one of 'paper', 'default'/],
    [{ allocator: 'random' }, /option allocator/],
    [{ scaling: 'ls' }, /option scaling/],
    [{ objective: 'both' }, /option objective/],
    [{ norm: 'centred' }, /option norm/],
    [{ peakWeight: -1 }, /option peakWeight/],
    [{ peakTemperature: 0 }, /option peakTemperature/],
    [{ freeRidge: -0.1 }, /option freeRidge/],
    [{ k: 'some' }, /option k/],
    [{ k: 'auto', kMinRatio: 1.5 }, /option kMinRatio/],
    [{ norm: 'max' }, /option norm/],
    [{ seed: -1 }, /option seed/],
    [{ maxImages: 0 }, /option maxImages/],
    [{ nmf: { solver: 'als' } }, /option nmf.solver/],
    [{ gradient: { method: 'adam' } }, /option gradient.method/],
    [{ gradient: { tolerance: 0 } }, /option gradient.tolerance/],
    [{ nelderMead: { initialStep: -1 } }, /option nelderMead.initialStep/],
  ];
  for (const [opts, re] of cases) assert.throws(() => resolveOptions(opts as never), (e: unknown) => e instanceof InputError && re.test(e.message), JSON.stringify(opts));
});

test('malformed class input is an InputError naming the class and the tensor', async () => {
  const F = new Float32Array(2 * 4 * 6).fill(1);
  const v = new Float32Array(6).fill(1);
  const base = { F, n: 2, hw: 4, d: 6, v, classIndex: 5, className: 'wren' };
  const expectInput = async (input: object, re: RegExp, opts = {}) =>
    assert.rejects(decomposeClass(input as never, opts), (e: unknown) => e instanceof InputError && /class 5 \('wren'\)/.test(e.message) && re.test(e.message));
  await expectInput({ ...base, F: F.subarray(1) }, /features F have 47 values, expected n x hw x d = 2 x 4 x 6 = 48/);
  await expectInput({ ...base, v: v.subarray(1) }, /head vector v has 5 values, expected d = 6/);
  await expectInput({ ...base, F: Array.from(F) }, /features F must be a Float32Array/);
  await expectInput({ ...base, n: 0 }, /n must be a positive integer/);
  const nan = F.slice();
  nan[1 * 24 + 2 * 6 + 3] = NaN;
  await expectInput({ ...base, F: nan }, /F\[image 1, position 2, channel 3\] is NaN/);
  const inf = v.slice();
  inf[4] = Infinity;
  await expectInput({ ...base, v: inf }, /v\[4\] is Infinity/);
  await expectInput(base, /option k = 7 exceeds the 6 channels/, { k: 7 });
});

test('decomposeOptionsOf gives back options that resolve to the same thing (how a manifest is rebuilt)', async () => {
  const { decomposeOptionsOf } = await import('../../src/prototypes/options.ts');
  const cases = [
    {},
    { preset: 'paper' as const, k: 7 },
    { k: 'auto' as const, kMax: 6, kMinGain: 0.05, kMinRatio: 0.2, seed: 3 },
    { allocator: 'gradient' as const, norm: 'class-l2' as const, peakWeight: 0, freeRidge: 0.5, freeHoldout: 0.2, maxImages: 40, nmf: { maxIter: 50, tol: 1e-3 }, nelderMead: { maxEvaluations: 99 } },
  ];
  for (const c of cases) {
    const r = resolveOptions(c);
    assert.deepEqual(resolveOptions(decomposeOptionsOf(r)), r, JSON.stringify(c));
    // Through JSON, as a manifest stores it.
    assert.deepEqual(resolveOptions(decomposeOptionsOf(JSON.parse(JSON.stringify(r)))), r, JSON.stringify(c));
  }
});

test('iterations default per allocator: 50 for free (the default), 100 for gradient; an explicit count wins', async () => {
  assert.equal(resolveOptions({}).allocator, 'free');
  assert.equal(resolveOptions({}).gradient.maxIterations, 50);
  assert.equal(resolveOptions({ allocator: 'gradient' }).gradient.maxIterations, 100);
  assert.equal(resolveOptions({ allocator: 'free', gradient: { maxIterations: 80 } }).gradient.maxIterations, 80);
  // The CLI passes no count unless asked, so the library's default applies there too.
  const { buildCommand, buildOptionsFromArgs } = await import('../../src/cli/build.ts');
  const { parseCommand } = await import('../../src/cli/args.ts');
  const args = (extra: string[]) => buildOptionsFromArgs(parseCommand(buildCommand.spec, ['--model', 'm.onnx', '--data', 'd', '--out', 'o', ...extra]).values);
  assert.equal(resolveOptions(args([]).decompose).gradient.maxIterations, 50);
  assert.equal(resolveOptions(args(['--allocator', 'gradient']).decompose).gradient.maxIterations, 100);
  assert.equal(resolveOptions(args(['--gradient-max-iter', '7']).decompose).gradient.maxIterations, 7);
});
