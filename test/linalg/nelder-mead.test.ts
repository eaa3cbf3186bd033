import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nelderMead } from '../../src/linalg/index.ts';
import { InputError } from '../../src/util/errors.ts';

const rosenbrock = (x: Float64Array): number => {
  let s = 0;
  for (let i = 0; i + 1 < x.length; i++) s += 100 * (x[i + 1] - x[i] * x[i]) ** 2 + (1 - x[i]) ** 2;
  return s;
};

test('Nelder-Mead: Rosenbrock 2-D from (-1.2, 1) reaches (1, 1)', () => {
  const r = nelderMead(rosenbrock, [-1.2, 1]);
  assert.ok(r.converged);
  for (const x of r.x) assert.ok(Math.abs(x - 1) < 1e-5, `x = ${Array.from(r.x)}`);
  assert.ok(r.f < 1e-10, `f = ${r.f}`);
  assert.ok(r.evaluations <= 2000, `evaluations ${r.evaluations}`);
});

test('Nelder-Mead: Rosenbrock 5-D reaches (1, ..., 1) with the adaptive coefficients', () => {
  const r = nelderMead(rosenbrock, [-1.2, 1, -1.2, 1, -1.2], { maxEvaluations: 20000 });
  assert.ok(r.converged);
  for (const x of r.x) assert.ok(Math.abs(x - 1) < 1e-4, `x = ${Array.from(r.x)}`);
  assert.ok(r.f < 1e-8, `f = ${r.f}`);
  assert.ok(r.iterations > 0 && r.evaluations <= 20000);
});

test('Nelder-Mead: an 8-D quadratic with a known minimum', () => {
  const c = [3, -2, 0.5, 10, -7, 1, 0, 4];
  const w = [1, 2, 3, 4, 5, 6, 7, 8];
  const f = (x: Float64Array) => c.reduce((s, ci, i) => s + w[i] * (x[i] - ci) ** 2, 0) + 0.5 * (x[0] - c[0]) * (x[1] - c[1]) + 42;
  const r = nelderMead(f, new Array(8).fill(0), { maxEvaluations: 40000 });
  c.forEach((ci, i) => assert.ok(Math.abs(r.x[i] - ci) < 1e-4, `x${i} = ${r.x[i]}, expected ${ci}`));
  assert.ok(Math.abs(r.f - 42) < 1e-8);
});

test('Nelder-Mead: bounded problem whose minimum lies on the bound; every evaluation is feasible', () => {
  const bounds: [number, number][] = [
    [0, 2],
    [0, 5],
    [-Infinity, -1],
  ];
  let outside = 0;
  const f = (x: Float64Array) => {
    if (x[0] < 0 || x[0] > 2 || x[1] < 0 || x[1] > 5 || x[2] > -1) outside++;
    return (x[0] - 3) ** 2 + (x[1] + 1) ** 2 + (x[2] - 4) ** 2 + x[0] * x[1];
  };
  // Minimum: x0 = 2 (upper bound), x1 = 0 (lower bound), x2 = -1 (upper bound); f = 1 + 1 + 25 = 27.
  const r = nelderMead(f, [1, 1, -3], { bounds });
  assert.equal(outside, 0);
  assert.ok(Math.abs(r.x[0] - 2) < 1e-6, `x0 ${r.x[0]}`);
  assert.ok(Math.abs(r.x[1]) < 1e-6, `x1 ${r.x[1]}`);
  assert.ok(Math.abs(r.x[2] + 1) < 1e-6, `x2 ${r.x[2]}`);
  assert.ok(Math.abs(r.f - 27) < 1e-8, `f ${r.f}`);
});

test('Nelder-Mead: interior optimum of a bounded problem and a fixed coordinate', () => {
  const f = (x: Float64Array) => (x[0] - 0.3) ** 2 + (x[1] - 0.7) ** 2 + x[2] ** 2;
  const r = nelderMead(f, [0.9, 0.1, 5], { bounds: [[0, 1], [0, 1], [5, 5]] });
  assert.ok(Math.abs(r.x[0] - 0.3) < 1e-6 && Math.abs(r.x[1] - 0.7) < 1e-6, `x = ${Array.from(r.x)}`);
  assert.equal(r.x[2], 5);
  // Every coordinate fixed: one evaluation, nothing to search.
  let calls = 0;
  const all = nelderMead((x) => (calls++, x[0] + x[1]), [0, 0], { bounds: [[1, 1], [2, 2]] });
  assert.deepEqual(Array.from(all.x), [1, 2]);
  assert.equal(all.f, 3);
  assert.equal(calls, 1);
  assert.ok(all.converged);
});

test('Nelder-Mead: the evaluation budget is never exceeded and the best point is returned', () => {
  let calls = 0;
  const r = nelderMead((x) => (calls++, rosenbrock(x)), [-1.2, 1, -1.2, 1], { maxEvaluations: 150 });
  assert.equal(calls, 150);
  assert.equal(r.evaluations, 150);
  assert.equal(r.converged, false);
  assert.equal(r.f, rosenbrock(r.x));
  assert.ok(r.f < rosenbrock(Float64Array.from([-1.2, 1, -1.2, 1])));
});

test('Nelder-Mead: restarts after convergence; with restarts 0 it stops at the first convergence', () => {
  const f = (x: Float64Array) => (x[0] - 1) ** 2 + 3 * (x[1] + 2) ** 2;
  const withRestarts = nelderMead(f, [0, 0]);
  assert.ok(withRestarts.restarts >= 1 && withRestarts.converged);
  const without = nelderMead(f, [0, 0], { restarts: 0 });
  assert.equal(without.restarts, 0);
  assert.ok(without.evaluations < withRestarts.evaluations);
});

test('Nelder-Mead: stagnation (best vertex stuck, simplex not shrinking) triggers restarts', () => {
  // The start point is the minimiser (-1); every other point evaluates slightly lower than the one
  // before it but above -1, so each reflection is accepted and the simplex cycles at constant size
  // without improving the best vertex: that is stagnation, and each one costs a restart.
  let calls = 0;
  const f = (x: Float64Array) => (x[0] === 0 && x[1] === 0 ? -1 : -0.5 - 0.4 * (1 - 1 / ++calls));
  const r = nelderMead(f, [0, 0], { restarts: 2, stallIterations: 10, maxEvaluations: 10000 });
  assert.equal(r.restarts, 2);
  assert.equal(r.converged, false);
  assert.ok(r.evaluations < 200, `stopped by stagnation, not by the budget (${r.evaluations} evaluations)`);
  assert.deepEqual(Array.from(r.x), [0, 0]);
  assert.equal(r.f, -1);
  // The convex |x| + |y| started at its minimiser shrinks instead: one confirming restart, converged.
  const g = (x: Float64Array) => Math.abs(x[0]) + Math.abs(x[1]);
  const converging = nelderMead(g, [0, 0], { restarts: 2, stallIterations: 10 });
  assert.equal(converging.restarts, 1);
  assert.ok(converging.converged);
});

test('Nelder-Mead: NaN counts as +Infinity', () => {
  const r = nelderMead((x) => (x[0] < 0 ? NaN : (x[0] - 1) ** 2), [3]);
  assert.ok(Math.abs(r.x[0] - 1) < 1e-6);
});

test('Nelder-Mead: bad options are InputErrors naming the option', () => {
  assert.throws(() => nelderMead(rosenbrock, [0, 0], { bounds: [[1, 0], [0, 1]] }), (e) => e instanceof InputError && /bounds\[0\] = \[1, 0\]/.test(e.message));
  assert.throws(() => nelderMead(rosenbrock, [0, 0], { bounds: [[0, 1]] }), (e) => e instanceof InputError && /bounds has 1 entries/.test(e.message));
  assert.throws(() => nelderMead(rosenbrock, []), (e) => e instanceof InputError && /x0 is empty/.test(e.message));
  assert.throws(() => nelderMead(rosenbrock, [0, 0], { maxEvaluations: 0 }), (e) => e instanceof InputError && /maxEvaluations/.test(e.message));
  assert.throws(() => nelderMead(rosenbrock, [0, 0], { initialStep: -1 }), (e) => e instanceof InputError && /initialStep/.test(e.message));
});
