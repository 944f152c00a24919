// Glue for e2e test files: start one registry per file, and attach the server's log tail to
// any failure so CI output shows what the server said.
import { after, before, test } from 'node:test';
import { startRegistry, type RegistryProcess, type StartOptions } from './berth-process.js';
import { RegistryApi } from './oci.js';

export interface Suite {
  /** the registry of this file (set in before()) */
  readonly reg: RegistryProcess;
  readonly api: RegistryApi;
  /** node:test `test`, with the server log appended to failures */
  step(name: string, fn: () => Promise<void>, opts?: { timeout?: number }): void;
}

export function registrySuite(name: string, opts: Omit<StartOptions, 'name'> & { basicAuth?: string } = {}): Suite {
  let reg: RegistryProcess | undefined;
  let api: RegistryApi | undefined;
  before(async () => {
    reg = await startRegistry({ ...opts, name });
    api = new RegistryApi(reg.url, { basicAuth: opts.basicAuth });
  });
  after(async () => {
    await reg?.dispose();
  });
  const suite: Suite = {
    get reg() {
      if (!reg) throw new Error('registry not started (before() failed?)');
      return reg;
    },
    get api() {
      if (!api) throw new Error('registry not started (before() failed?)');
      return api;
    },
    step(stepName, fn, o = {}) {
      test(stepName, { timeout: o.timeout ?? 3 * 60_000 }, () => withServerLog(() => reg, fn));
    },
  };
  return suite;
}

export async function withServerLog<T>(reg: () => RegistryProcess | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const r = reg();
    if (r && e instanceof Error) {
      try {
        e.message += `\n--- last lines of the ${r.kind} log ${r.logFile} ---\n${r.logTail(40)}`;
      } catch {
        /* read-only message */
      }
    }
    throw e;
  }
}

/** A name unique within this process, for repositories/tags. */
let counter = 0;
export function uniq(prefix: string): string {
  return `${prefix}${(++counter).toString(36)}${Date.now().toString(36).slice(-4)}`;
}
