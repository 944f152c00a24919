// The one runner of periodic background work (garbage collection, upload purging, …). Every
// replica runs every job on its own timer; a job claims its work in the database, so replicas
// share it instead of repeating it. A job never overlaps itself in one process, and stop()
// waits for the runs in progress. Timers pace on wall time.
import { inRootSpan } from '../observability/tracing.js';

export interface Job {
  readonly name: string;
  /** Milliseconds between the end of one run and the start of the next. */
  readonly every: number;
  run(): Promise<unknown>;
}

export interface JobLog {
  error(obj: object, msg: string): void;
}

/** Told of every finished run (metrics). */
export type JobObserver = (name: string, seconds: number, failed: boolean) => void;

interface Slot {
  job: Job;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  runs: number;
}

/** The first run waits a random part of the interval (at most this), so replicas started together spread out. */
const MAX_FIRST_WAIT_MS = 10_000;

export class JobRunner {
  private readonly slots = new Map<string, Slot>();
  private started = false;

  constructor(
    private readonly log: JobLog,
    private readonly observe: JobObserver = () => {},
  ) {}

  add(job: Job): void {
    if (this.slots.has(job.name)) throw new Error(`job ${job.name} is already registered`);
    const slot: Slot = { job, runs: 0 };
    this.slots.set(job.name, slot);
    if (this.started) this.schedule(slot, firstWait(job.every));
  }

  names(): string[] {
    return [...this.slots.keys()];
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const slot of this.slots.values()) this.schedule(slot, firstWait(slot.job.every));
  }

  /** Stops the timers and waits for runs in progress. */
  async stop(): Promise<void> {
    this.started = false;
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    await Promise.allSettled([...this.slots.values()].map((s) => s.running));
  }

  /**
   * Runs a job now (joining a run in progress, then running once more, so the result reflects
   * everything done before the call) and rejects with its error.
   */
  async runNow(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no job named ${name}`);
    while (slot.running) await slot.running.catch(() => {});
    await this.runSlot(slot, true);
  }

  /** How many runs of the job finished (tests wait for the timer's runs). */
  runs(name: string): number {
    return this.slots.get(name)?.runs ?? 0;
  }

  private schedule(slot: Slot, ms: number): void {
    clearTimeout(slot.timer);
    if (!this.started) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (slot.running) return this.schedule(slot, slot.job.every);
      void this.runSlot(slot, false).catch(() => {});
    }, ms);
    slot.timer.unref();
  }

  private runSlot(slot: Slot, rethrow: boolean): Promise<void> {
    const run = (async () => {
      const start = performance.now();
      let failed = false;
      try {
        // Each run is a trace of its own, whatever request or timer started it.
        await inRootSpan(`job ${slot.job.name}`, { 'berth.job.name': slot.job.name }, () => slot.job.run());
      } catch (err) {
        failed = true;
        this.log.error({ err, job: slot.job.name }, 'background job failed');
        if (rethrow) throw err;
      } finally {
        this.observe(slot.job.name, (performance.now() - start) / 1000, failed);
        slot.runs++;
        slot.running = undefined;
        this.schedule(slot, slot.job.every);
      }
    })();
    slot.running = run.catch(() => {});
    return run;
  }
}

function firstWait(every: number): number {
  return Math.floor(Math.random() * Math.min(every, MAX_FIRST_WAIT_MS));
}
