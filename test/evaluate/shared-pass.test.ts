import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedPass } from '../../src/evaluate/context/shared-pass.ts';

/** A counted source of 0..n-1; `live` tracks items produced and not yet dropped by the test. */
function source(n: number, log: { produced: number; closed: boolean; failAt?: number }) {
  return async function* () {
    try {
      for (let i = 0; i < n; i++) {
        await new Promise((r) => setImmediate(r));
        if (log.failAt === i) throw new Error(`source failed at ${i}`);
        log.produced++;
        yield i;
      }
    } finally {
      log.closed = true;
    }
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('shared pass: every consumer sees every item once, each item is produced once, lagging consumers bound the lead', async () => {
  const log = { produced: 0, closed: false };
  const pass = new SharedPass(source(10, log), 1);
  const leases = [pass.lease(), pass.lease(), pass.lease()];
  let maxLead = 0;
  const positions = [0, 0, 0];
  const consume = async (j: number, delay: number) => {
    await new Promise((r) => setTimeout(r, j * 5)); // subscribes late: must not miss anything
    const seen: number[] = [];
    for await (const v of leases[j].batches()) {
      seen.push(v);
      positions[j] = seen.length;
      maxLead = Math.max(maxLead, Math.max(...positions) - Math.min(...positions));
      for (let t = 0; t < delay; t++) await tick();
    }
    leases[j].close();
    return seen;
  };
  const [a, b, c] = await Promise.all([consume(0, 0), consume(1, 3), consume(2, 1)]);
  const all = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(a, all);
  assert.deepEqual(b, all);
  assert.deepEqual(c, all);
  assert.equal(log.produced, 10);
  assert.ok(maxLead <= 2, `the leader ran ${maxLead} items ahead`);
  assert.throws(() => pass.lease(), /after the pass started/);
});

test('shared pass: a consumer that stops early leaves; the source closes when the last one leaves', async () => {
  const log = { produced: 0, closed: false };
  const pass = new SharedPass(source(100, log));
  const early = pass.lease();
  const late = pass.lease();
  const takeEarly = (async () => {
    const got: number[] = [];
    for await (const v of early.batches()) {
      got.push(v);
      if (got.length === 3) break;
    }
    return got;
  })();
  const takeLate = (async () => {
    const got: number[] = [];
    for await (const v of late.batches()) {
      got.push(v);
      if (got.length === 20) break;
    }
    return got;
  })();
  assert.deepEqual(await takeEarly, [0, 1, 2]);
  assert.equal((await takeLate).length, 20);
  await tick();
  assert.ok(log.closed, 'source closed');
  assert.ok(log.produced <= 22, `produced ${log.produced} for consumers that wanted 20`);
});

test('shared pass: a lease closed without subscribing does not hold the pass; source errors reach every consumer; abort ends it', async () => {
  const log = { produced: 0, closed: false, failAt: 4 };
  const pass = new SharedPass(source(10, log));
  const idle = pass.lease();
  const a = pass.lease();
  const b = pass.lease();
  const run = async (l: typeof a) => {
    const got: number[] = [];
    for await (const v of l.batches()) got.push(v);
    return got;
  };
  setTimeout(() => idle.close(), 5);
  const results = await Promise.allSettled([run(a), run(b)]);
  for (const r of results) assert.ok(r.status === 'rejected' && /source failed at 4/.test(String(r.reason)), String((r as PromiseRejectedResult).reason));

  const log2 = { produced: 0, closed: false };
  const pass2 = new SharedPass(source(1000, log2));
  const c = pass2.lease();
  const d = pass2.lease();
  const failing = (async () => {
    for await (const v of c.batches()) if (v === 2) throw new Error('metric failed');
  })().catch((e: Error) => {
    pass2.abort(e);
    throw e;
  });
  const other = run(d);
  await assert.rejects(failing, /metric failed/);
  await assert.rejects(other, /metric failed/);
  await tick();
  assert.ok(log2.closed && log2.produced < 10, `produced ${log2.produced} before the abort`);
});
