import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prefetch } from '../../src/util/prefetch.ts';

/** A producer that only works while asked (like an async generator feeding worker threads), logging what happens. */
function producer(n: number, log: string[], failAt = -1) {
  return (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        log.push(`produce ${i}`);
        await new Promise((r) => setTimeout(r, 1));
        if (i === failAt) throw new Error(`item ${i} failed`);
        yield i;
      }
    } finally {
      log.push('producer closed');
    }
  })();
}

test('prefetch: items in order, and the producer works ahead while the consumer is busy', async () => {
  const log: string[] = [];
  const seen: number[] = [];
  for await (const x of prefetch(producer(5, log), 2)) {
    log.push(`consume ${x} start`);
    await new Promise((r) => setTimeout(r, 20));
    log.push(`consume ${x} end`);
    seen.push(x);
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  // While item 0 is consumed, items 1 and 2 are produced (depth 2), before consumption ends.
  const end0 = log.indexOf('consume 0 end');
  assert.ok(log.indexOf('produce 1') < end0 && log.indexOf('produce 2') < end0, log.join(' | '));
  assert.ok(log.includes('producer closed'));
  // Without prefetch, the producer would wait: item 1 is produced only after item 0 is consumed.
  const plain: string[] = [];
  for await (const x of producer(2, plain)) {
    plain.push(`consume ${x} start`);
    await new Promise((r) => setTimeout(r, 5));
    plain.push(`consume ${x} end`);
  }
  assert.ok(plain.indexOf('produce 1') > plain.indexOf('consume 0 end'));
});

test('prefetch: an error of the source comes out at its place, after the items before it', async () => {
  const log: string[] = [];
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const x of prefetch(producer(6, log, 3), 3)) seen.push(x);
    })(),
    /item 3 failed/,
  );
  assert.deepEqual(seen, [0, 1, 2]);
  assert.ok(log.includes('producer closed'));
});

test('prefetch: a consumer that stops early closes the source; bad depth is refused', async () => {
  const log: string[] = [];
  for await (const x of prefetch(producer(100, log), 2)) if (x === 1) break;
  assert.equal(log.at(-1), 'producer closed');
  assert.ok(log.filter((l) => l.startsWith('produce ')).length <= 4, log.join(' | '));
  await assert.rejects(async () => {
    for await (const _ of prefetch(producer(1, []), 0)) void _;
  }, RangeError);
});
