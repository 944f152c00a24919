/**
 * Runs the functions given to it one after another, in order. The collector and the sweep run their
 * own write transactions through one: on PostgreSQL (SERIALIZABLE) their concurrent batches would
 * otherwise abort each other and retry.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}
