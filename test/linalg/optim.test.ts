import { test } from 'node:test';
import assert from 'node:assert/strict';
import { minimizeLbfgs } from '../../src/linalg/optim/lbfgs.ts';
import { nelderMead } from '../../src/linalg/optim/nelder-mead.ts';
import { minimizeOnSimplices, projectColumnsToSimplex } from '../../src/linalg/optim/simplex-spg.ts';
import { InputError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/random.ts';

const rosenbrock = (x: ArrayLike<number>) => 100 * (x[1] - x[0] * x[0]) ** 2 + (1 - x[0]) ** 2;

test('simplex projection: known answers (inside stays, (2,0,0) -> vertex, k = 2 closed form)', () => {
  const W = Float64Array.from([0.2, 2, 0.7, 0.5, 0, 0, 0.1, 0, 0]); // k = 3 rows, D = 3 columns
  projectColumnsToSimplex(W, 3, 3);
  const col = (c: number) => [W[c], W[3 + c], W[6 + c]];
  const close = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-14, `${a} vs ${b}`));
  // (0.2, 0.5, 0.1) sums to 0.8: every entry moves up by 0.2 / 3.
  close(col(0), [0.2, 0.5, 0.1].map((x) => x + 0.2 / 3));
  // (2, 0, 0): beyond the vertex, projects to (1, 0, 0).
  close(col(1), [1, 0, 0]);
  // (0.7, 0, 0) sums to 0.7: every entry moves up by 0.1.
  close(col(2), [0.8, 0.1, 0.1]);
  const rng = new Rng(1);
  for (let t = 0; t < 50; t++) {
    const a = rng.normal() * 2;
    const b = rng.normal() * 2;
    const w = Float64Array.from([a, b]);
    projectColumnsToSimplex(w, 2, 1);
    const x = Math.min(1, Math.max(0, (a - b + 1) / 2));
    assert.ok(Math.abs(w[0] - x) < 1e-12 && Math.abs(w[1] - (1 - x)) < 1e-12, `(${a}, ${b})`);
  }
});

test('spectral projected gradient reaches the known optimum of a quadratic on the simplices', async () => {
  const rng = new Rng(2);
  const k = 4;
  const D = 30;
  const T = Float64Array.from({ length: k * D }, () => rng.normal());
  const expected = Float64Array.from(T);
  projectColumnsToSimplex(expected, k, D); // argmin ||W - T||^2 on the simplices is the projection
  const r = await minimizeOnSimplices(
    async (W, g) => {
      let f = 0;
      for (let x = 0; x < W.length; x++) {
        const e = W[x] - T[x];
        f += e * e;
        g[x] = 2 * e;
      }
      return f;
    },
    new Float64Array(k * D).fill(1 / k),
    k,
    D,
    { maxIterations: 200, tolerance: 1e-14 },
  );
  let worst = 0;
  for (let x = 0; x < k * D; x++) worst = Math.max(worst, Math.abs(r.W[x] - expected[x]));
  assert.ok(worst < 1e-6, `max deviation from the projection ${worst}`);
  for (let c = 0; c < D; c++) {
    let s = 0;
    for (let i = 0; i < k; i++) {
      assert.ok(r.W[i * D + c] >= 0);
      s += r.W[i * D + c];
    }
    assert.ok(Math.abs(s - 1) < 1e-12);
  }
});

test('Nelder-Mead finds the Rosenbrock minimum and never returns worse than its start', async () => {
  const r = await nelderMead(async (x) => rosenbrock(x), [-1.2, 1], { maxEvaluations: 2000, tolF: 1e-14, tolX: 1e-10 });
  assert.ok(Math.abs(r.x[0] - 1) < 1e-3 && Math.abs(r.x[1] - 1) < 1e-3, `x = ${Array.from(r.x)}`);
  const c = [3, -1, 0.5, 2, -2];
  const q = await nelderMead(async (x) => x.reduce((s, xi, i) => s + (i + 1) * (xi - c[i]) ** 2, 0), new Float64Array(5), { maxEvaluations: 5000, tolF: 1e-16, tolX: 1e-12 });
  q.x.forEach((xi, i) => assert.ok(Math.abs(xi - c[i]) < 1e-4, `x[${i}] = ${xi}`));
  // A budget of 1 evaluation returns the start.
  const one = await nelderMead(async (x) => rosenbrock(x), [0.5, 0.5], { maxEvaluations: 1 });
  assert.deepEqual(Array.from(one.x), [0.5, 0.5]);
});

test('L-BFGS (async) finds the Rosenbrock minimum with its analytic gradient', async () => {
  const r = await minimizeLbfgs(
    async (x, g) => {
      if (g) {
        g[0] = -400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]);
        g[1] = 200 * (x[1] - x[0] * x[0]);
      }
      return rosenbrock(x);
    },
    [-1.2, 1],
    { maxIterations: 500, tolerance: 1e-16 },
  );
  assert.ok(Math.abs(r.x[0] - 1) < 1e-5 && Math.abs(r.x[1] - 1) < 1e-5, `x = ${Array.from(r.x)} (${r.reason})`);
  assert.ok(r.f <= rosenbrock([-1.2, 1]));
});

/**
 * The textbook L-BFGS (two-loop recursion over arrays of pairs, Armijo backtracking from the unit step,
 * pairs kept when s·y > 1e-12 |s| |y|), written plainly as an independent reference for the
 * optimiser's ring of pairs and fused loops: every iterate must be the same, bit for bit.
 */
async function referenceLbfgs(f: (x: Float64Array, g: Float64Array) => number, x0: number[], memory: number, iterations: number, firstStep: number): Promise<number[][]> {
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  };
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let fx = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const path: number[][] = [];
  for (let it = 0; it < iterations; it++) {
    let gmax = 0;
    for (const v of g) gmax = Math.max(gmax, Math.abs(v));
    const d = g.map((v) => -v);
    const al: number[] = [];
    for (let m = S.length - 1; m >= 0; m--) {
      al[m] = rho[m] * dot(S[m], d);
      for (let i = 0; i < n; i++) d[i] -= al[m] * Y[m][i];
    }
    if (S.length > 0) {
      const l = S.length - 1;
      const gamma = dot(S[l], Y[l]) / dot(Y[l], Y[l]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    } else for (let i = 0; i < n; i++) d[i] *= firstStep / gmax;
    for (let m = 0; m < S.length; m++) {
      const b = rho[m] * dot(Y[m], d);
      for (let i = 0; i < n; i++) d[i] += (al[m] - b) * S[m][i];
    }
    let slope = dot(d, g);
    if (!(slope < 0)) {
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = (-g[i] * firstStep) / gmax;
      slope = dot(d, g);
    }
    let t = 1;
    let xNew = new Float64Array(n);
    const gNew = new Float64Array(n);
    let fNew = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      xNew = x.map((v, i) => v + t * d[i]);
      fNew = f(xNew, gNew);
      if (fNew <= fx + 1e-4 * t * slope) break;
      t *= 0.5;
    }
    const s = xNew.map((v, i) => v - x[i]);
    const y = gNew.map((v, i) => v - g[i]);
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    x = xNew;
    g = gNew;
    fx = fNew;
    path.push(Array.from(x));
  }
  return path;
}

test('L-BFGS: every iterate equals the textbook two-loop recursion bit for bit (memory 3 wraps its ring many times)', async () => {
  // An ill-conditioned 40-D quadratic plus a quartic term: 60 iterations with 3 pairs.
  const n = 40;
  const scale = Array.from({ length: n }, (_, i) => 1 + (i % 7) * 13);
  const f = (x: Float64Array, g: Float64Array | null) => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const d = x[i] - (i % 5) * 0.3;
      v += scale[i] * d * d + d ** 4;
      if (g) g[i] = 2 * scale[i] * d + 4 * d ** 3;
    }
    return v;
  };
  const x0 = Array.from({ length: n }, (_, i) => Math.cos(i));
  const ours: number[][] = [];
  await minimizeLbfgs(
    async (x, g) => {
      if (g) ours.push(Array.from(x));
      return f(x, g);
    },
    x0,
    { memory: 3, maxIterations: 60, tolerance: 0, firstStep: 0.5 },
  );
  const reference = await referenceLbfgs(f, x0, 3, 60, 0.5);
  // `ours` holds every point evaluated with a gradient: the start, then each trial step; the accepted
  // ones are the points the reference reaches.
  const accepted = reference.map((x) => ours.findIndex((y) => y.every((v, i) => v === x[i])));
  assert.ok(accepted.every((a) => a > 0), `iterates not reproduced: ${accepted.map((a, i) => (a > 0 ? '' : i)).filter(String).join(', ')}`);
  assert.ok(accepted.every((a, i) => i === 0 || a > accepted[i - 1]), 'iterates in order');
  assert.ok(f(Float64Array.from(reference.at(-1)!), null) < 1e-6 * f(Float64Array.from(x0), null), 'the reference itself converges (the test compares a working optimiser)');
});

const rosenbrockN = (x: Float64Array): number => {
  let s = 0;
  for (let i = 0; i + 1 < x.length; i++) s += 100 * (x[i + 1] - x[i] * x[i]) ** 2 + (1 - x[i]) ** 2;
  return s;
};

test('Nelder-Mead: Rosenbrock 2-D from (-1.2, 1) reaches (1, 1); a synchronous objective works too', async () => {
  const r = await nelderMead(rosenbrockN, [-1.2, 1], { maxEvaluations: 2000, tolF: 1e-14, tolX: 1e-10 });
  for (const x of r.x) assert.ok(Math.abs(x - 1) < 1e-4, `x = ${Array.from(r.x)}`);
  assert.ok(r.f < 1e-8, `f = ${r.f}`);
  assert.ok(r.evaluations <= 2000, `evaluations ${r.evaluations}`);
});

test('Nelder-Mead: an 8-D quadratic with a known minimum (adaptive coefficients)', async () => {
  const c = [3, -2, 0.5, 10, -7, 1, 0, 4];
  const w = [1, 2, 3, 4, 5, 6, 7, 8];
  const f = (x: Float64Array) => c.reduce((s, ci, i) => s + w[i] * (x[i] - ci) ** 2, 0) + 0.5 * (x[0] - c[0]) * (x[1] - c[1]) + 42;
  const r = await nelderMead(f, new Array(8).fill(0), { maxEvaluations: 40000, tolF: 1e-16, tolX: 1e-12, restarts: 3 });
  c.forEach((ci, i) => assert.ok(Math.abs(r.x[i] - ci) < 1e-3, `x${i} = ${r.x[i]}, expected ${ci}`));
  assert.ok(Math.abs(r.f - 42) < 1e-6, `f = ${r.f}`);
});

test('Nelder-Mead: the evaluation budget bounds the work and the best point seen is returned', async () => {
  let calls = 0;
  const start = Float64Array.from([-1.2, 1, -1.2, 1]);
  const r = await nelderMead((x) => (calls++, rosenbrockN(x)), start, { maxEvaluations: 150 });
  assert.equal(r.evaluations, calls);
  assert.ok(calls <= 151, `${calls} evaluations for a budget of 150 (one step may finish its expansion)`);
  assert.equal(r.f, rosenbrockN(r.x));
  assert.ok(r.f < rosenbrockN(start));
});

test('Nelder-Mead: restarts rebuild the simplex at the best point; restarts 0 stops at the first convergence', async () => {
  const f = (x: Float64Array) => (x[0] - 1) ** 2 + 3 * (x[1] + 2) ** 2;
  const withRestarts = await nelderMead(f, [0, 0], { restarts: 2 });
  const without = await nelderMead(f, [0, 0], { restarts: 0 });
  assert.equal(without.restarts, 0);
  assert.ok(withRestarts.restarts >= 1);
  assert.ok(without.evaluations < withRestarts.evaluations);
  assert.ok(withRestarts.f <= without.f);
});

test('Nelder-Mead: NaN counts as +Infinity', async () => {
  const r = await nelderMead((x) => (x[0] < 0 ? NaN : (x[0] - 1) ** 2), [3]);
  assert.ok(Math.abs(r.x[0] - 1) < 1e-4, `x = ${r.x[0]}`);
});

test('Nelder-Mead: bad options are InputErrors naming the option', async () => {
  const bad = (o: Parameters<typeof nelderMead>[2], re: RegExp) => assert.rejects(nelderMead(rosenbrockN, [0, 0], o), (e) => e instanceof InputError && re.test((e as Error).message));
  await bad({ maxEvaluations: 0 }, /maxEvaluations must be an integer >= 1, got 0/);
  await bad({ initialStep: -1 }, /initialStep must be a finite number > 0/);
  await bad({ tolF: NaN }, /tolF/);
  await bad({ restarts: 1.5 }, /restarts/);
});
