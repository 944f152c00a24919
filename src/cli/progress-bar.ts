// A one-line progress bar for a terminal, redrawn in place (a few lines do not need a dependency).

export interface ProgressStream {
  write(s: string): boolean;
  columns?: number;
}

export class ProgressBar {
  private last = '';
  private lastAt = 0;

  constructor(
    private readonly out: ProgressStream,
    private readonly width = 30,
  ) {}

  /** Draws `done` of `total` with a note; redraws at most every 100 ms unless `force`. */
  update(done: number, total: number, note: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastAt < 100) return;
    this.lastAt = now;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(share * this.width);
    let line = `[${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}] ${String(Math.floor(share * 100)).padStart(3)}% ${note}`;
    const cols = this.out.columns ?? 80;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    if (line === this.last) return;
    this.last = line;
    this.out.write(`\r\x1b[2K${line}`);
  }

  /** Removes the bar, leaving the cursor at the start of an empty line. */
  clear(): void {
    if (this.last) this.out.write('\r\x1b[2K');
    this.last = '';
  }
}
