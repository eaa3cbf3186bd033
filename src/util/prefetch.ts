/**
 * Read an async iterable ahead of its consumer: up to `depth` items are requested before the
 * consumer asks for them, so a producer that only works while asked (an async generator handing
 * classes to worker threads) keeps working while the consumer is busy with the previous item.
 * Items come out in order; an error of the source comes out where its item would have.
 */
export async function* prefetch<T>(source: AsyncIterable<T>, depth: number): AsyncGenerator<T> {
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`prefetch: depth must be an integer >= 1, got ${depth}`);
  const it = source[Symbol.asyncIterator]();
  const ahead: Promise<IteratorResult<T>>[] = [];
  // Requests beyond the end resolve as done; a rejection is handled where the consumer awaits it,
  // and marked handled here so that one left behind after an early stop is not reported twice.
  const request = () => {
    const p = it.next();
    p.catch(() => {});
    ahead.push(p);
  };
  let finished = false;
  try {
    for (let i = 0; i < depth; i++) request();
    for (;;) {
      const r = await ahead.shift()!;
      if (r.done) {
        finished = true;
        return;
      }
      request();
      yield r.value;
    }
  } finally {
    // Stopped early (the consumer broke off or failed, or the source failed): let the source clean up.
    if (!finished) await it.return?.(undefined);
  }
}
