// The app's clock in the tests (AppParts.now): wall time plus what the test advanced it by, so
// a test waits out an expiry, a throttle or a backoff by moving the clock, not by sleeping.

export class TestClock {
  private offset = 0;
  readonly now = (): number => Date.now() + this.offset;
  /** Moves the clock forward to `at` (never back). */
  advanceTo(at: number): void {
    this.offset += Math.max(0, at - this.now());
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}
