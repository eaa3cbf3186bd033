import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/util/errors.ts';
import { decomposeClass, type ClassDecomposition, type ClassInput } from '../../src/prototypes/decompose.ts';
import { decomposeClasses, decomposeClassesStream, type ClassLoader, type ClassProgress } from '../../src/prototypes/parallel.ts';
import { plantedClass } from './planted.ts';

const make = (c: number): ClassInput => {
  const p = plantedClass({ n: 8, side: 5, d: 48, k: 3, seed: 100 + c, noise: 0.05, signed: 1, background: 2 });
  return { F: p.F, n: p.n, hw: p.hw, d: p.d, v: p.v, classIndex: c };
};
const options = { k: 3, seed: 42, gradient: { maxIterations: 30 } };

/** Everything but wall-clock timing. */
const bits = (r: ClassDecomposition) => ({ ...r, timing: null });

test('same seed, same bits: two runs of one class are identical', async () => {
  const a = await decomposeClass(make(0), options);
  const b = await decomposeClass(make(0), options);
  assert.deepStrictEqual(bits(a), bits(b));
  assert.equal(a.seed, 42);
  const other = await decomposeClass(make(0), { ...options, seed: 43, nmf: { init: 'random' } });
  assert.notDeepStrictEqual(other.initialPrototypes, a.initialPrototypes);
});

test('threads 1 vs 2: same bits, results in source order; classes are loaded lazily and F is transferred', async () => {
  const count = 5;
  const handed: Float32Array[] = [];
  const loaderFor = (): ClassLoader => ({
    count,
    load(c) {
      const input = make(c);
      handed.push(input.F);
      return input;
    },
  });
  const one = await decomposeClasses(loaderFor(), { ...options, threads: 1 });
  handed.length = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const onProgress = (p: ClassProgress) => {
    inFlight += p.event === 'start' ? 1 : -1;
    maxInFlight = Math.max(maxInFlight, inFlight);
  };
  const seen: number[] = [];
  const two: ClassDecomposition[] = [];
  for await (const r of decomposeClassesStream(loaderFor(), { ...options, threads: 2, onProgress })) {
    seen.push(r.classIndex!);
    two.push(r);
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(one.length, count);
  for (let c = 0; c < count; c++) assert.deepStrictEqual(bits(two[c]), bits(one[c]), `class ${c}`);
  // Classes are pulled one at a time as threads free up: never more than 2 features in memory.
  assert.equal(maxInFlight, 2);
  assert.equal(inFlight, 0);
  // Transferred, not copied: the caller's buffers are detached.
  for (const F of handed) assert.equal(F.byteLength, 0);
});

test('arrays and async iterables are sources too; a bad class stops the run with an error naming it', async () => {
  const viaArray = await decomposeClasses([make(0), make(1)], { ...options, threads: 2 });
  assert.deepEqual(viaArray.map((r) => r.classIndex), [0, 1]);
  async function* gen() {
    yield make(0);
    const bad = make(1);
    yield { ...bad, F: bad.F.subarray(0, bad.F.length - 1) };
  }
  await assert.rejects(decomposeClasses(gen(), { ...options, threads: 2 }), (e: unknown) => e instanceof InputError && /class 1/.test(e.message) && /features F/.test(e.message));
  await assert.rejects(decomposeClasses([make(0)], { ...options, threads: 0 }), (e: unknown) => e instanceof InputError && /threads/.test(e.message));
  await assert.rejects(decomposeClasses([make(0)], { ...options, allocator: 'magic' as never, threads: 2 }), (e: unknown) => e instanceof InputError && /allocator/.test(e.message));
});
