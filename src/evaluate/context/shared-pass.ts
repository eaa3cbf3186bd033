/**
 * One pass over a stream shared by several consumers: every metric iterates "its own" batches, but
 * each batch is produced (decoded and run through the model) once and handed to all of them.
 *
 *   const pass = new SharedPass(() => forwardBatches(...));
 *   const leases = metrics.map(() => pass.lease());            // every participant, before any pulls
 *   await Promise.all(metrics.map((m, i) => runWith(m, leases[i].batches()).finally(() => leases[i].close())));
 *
 * The pass starts when every lease has subscribed (called `batches()`) or closed, so a consumer that
 * awaits something before iterating misses nothing. A batch is kept until every subscribed consumer
 * has taken it, and the leading consumer waits when it is `maxAhead` batches ahead of the slowest, so
 * memory stays bounded. A consumer that stops early (break, error, `close()`) leaves the pass; the
 * source is closed when the last one leaves. An error from the source reaches every consumer;
 * `abort(error)` ends the pass for all.
 */

interface LeaseState {
  state: 'pending' | 'subscribed' | 'closed';
  position: number;
}

export interface PassLease<T> {
  /** The shared stream (call once). */
  batches(): AsyncIterable<T>;
  /** Leave the pass (idempotent); call when the consumer is done, whatever the outcome. */
  close(): void;
}

export class SharedPass<T> {
  private readonly leases: LeaseState[] = [];
  private readonly items: (Promise<IteratorResult<T>> | undefined)[] = [];
  private iterator?: AsyncIterator<T>;
  private started = false;
  private finished = false;
  private error: unknown;
  private aborted = false;
  private waiters: (() => void)[] = [];

  /**
   * @param source the stream, opened when the pass starts
   * @param maxAhead how many batches the leading consumer may be ahead of the slowest (default 1)
   */
  constructor(
    private readonly source: () => AsyncIterable<T>,
    private readonly maxAhead = 1,
  ) {
    if (!Number.isInteger(maxAhead) || maxAhead < 0) throw new Error(`shared pass: maxAhead must be an integer >= 0, got ${maxAhead}`);
  }

  /** A participant's ticket; all leases must be taken before the pass starts. */
  lease(): PassLease<T> {
    if (this.started) throw new Error('shared pass: a lease was taken after the pass started');
    const st: LeaseState = { state: 'pending', position: 0 };
    this.leases.push(st);
    let used = false;
    return {
      batches: () => {
        if (used) throw new Error('shared pass: batches() may be called once per lease');
        used = true;
        if (st.state === 'closed') throw new Error('shared pass: batches() called on a closed lease');
        st.state = 'subscribed';
        this.wake();
        return { [Symbol.asyncIterator]: () => this.iteratorFor(st) };
      },
      close: () => this.leave(st),
    };
  }

  /** End the pass for every consumer with `error`. */
  abort(error: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.error = error;
    void this.closeSource();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private waitChange(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private leave(st: LeaseState): void {
    if (st.state === 'closed') return;
    st.state = 'closed';
    this.release();
    this.wake();
    if (this.leases.every((l) => l.state === 'closed')) void this.closeSource();
  }

  private async closeSource(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const it = this.iterator;
    if (it?.return) await it.return().catch(() => undefined);
  }

  /** Drop batches every active consumer has taken. */
  private release(): void {
    const active = this.leases.filter((l) => l.state === 'subscribed');
    const low = active.length ? Math.min(...active.map((l) => l.position)) : this.items.length;
    for (let i = 0; i < low && i < this.items.length; i++) this.items[i] = undefined;
  }

  private canStart(): boolean {
    return this.leases.every((l) => l.state !== 'pending');
  }

  private slowest(): number {
    const active = this.leases.filter((l) => l.state === 'subscribed');
    return active.length ? Math.min(...active.map((l) => l.position)) : Infinity;
  }

  private async item(s: number): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.aborted) throw this.error;
      if (s < this.items.length) {
        const p = this.items[s];
        if (!p) throw new Error(`shared pass: batch ${s} was released before a consumer took it`);
        return p;
      }
      // s === items.length: this consumer leads; produce when allowed
      if (this.canStart() && s - this.slowest() <= this.maxAhead) {
        this.started = true;
        if (this.finished) return { done: true, value: undefined };
        this.iterator ??= this.source()[Symbol.asyncIterator]();
        const p = this.iterator.next();
        this.items.push(p);
        p.then(
          () => this.wake(),
          () => this.wake(),
        );
        return p;
      }
      await this.waitChange();
    }
  }

  private iteratorFor(st: LeaseState): AsyncIterator<T> {
    return {
      next: async (): Promise<IteratorResult<T>> => {
        if (st.state === 'closed') return { done: true, value: undefined };
        let r: IteratorResult<T>;
        try {
          r = await this.item(st.position);
        } catch (e) {
          this.leave(st);
          throw e;
        }
        if (r.done) {
          this.leave(st);
          return r;
        }
        st.position++;
        this.release();
        this.wake();
        return r;
      },
      return: async (): Promise<IteratorResult<T>> => {
        this.leave(st);
        return { done: true, value: undefined };
      },
    };
  }
}
