/**
 * Progress reporting for long jobs: a one-line bar with rate and ETA on a terminal, plain progress
 * lines (at most one every few seconds) otherwise, nothing when silenced. Writes to stderr so that
 * --json output on stdout stays clean.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** 'auto': bar on a TTY, lines otherwise. */
  mode?: 'auto' | 'bar' | 'lines' | 'silent';
  /** Minimum seconds between plain lines. */
  lineInterval?: number;
}

export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private lastDraw = 0;
  private readonly mode: 'bar' | 'lines' | 'silent';
  private readonly stream: NodeJS.WriteStream;
  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    const m = opts.mode ?? 'auto';
    this.mode = m === 'auto' ? (this.stream.isTTY ? 'bar' : 'lines') : m;
  }

  /** Advance by n units; `note` is shown after the counts (e.g. the current class). */
  tick(n = 1, note = ''): void {
    this.done += n;
    this.draw(note, false);
  }

  /** Set the absolute count. */
  update(done: number, note = ''): void {
    this.done = done;
    this.draw(note, false);
  }

  finish(note = ''): void {
    this.draw(note, true);
    if (this.mode === 'bar') this.stream.write('\n');
  }

  get rate(): number {
    const s = (performance.now() - this.start) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  private draw(note: string, force: boolean): void {
    if (this.mode === 'silent') return;
    const now = performance.now();
    const interval = this.mode === 'bar' ? 100 : (this.opts.lineInterval ?? 5) * 1000;
    if (!force && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const { total, label } = this.opts;
    const unit = this.opts.unit ?? 'it';
    const rate = this.rate;
    const eta = rate > 0 && total > this.done ? formatSeconds((total - this.done) / rate) : '--';
    const pct = total > 0 ? Math.min(100, (100 * this.done) / total) : 100;
    const counts = `${this.done}/${total} ${unit} ${rate.toFixed(1)} ${unit}/s ETA ${eta}${note ? ` ${note}` : ''}`;
    if (this.mode === 'bar') {
      const width = 24;
      const filled = Math.round((width * pct) / 100);
      this.stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}% ${counts}\x1b[K`);
    } else {
      this.stream.write(`${label}: ${pct.toFixed(0)}% ${counts}\n`);
    }
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
