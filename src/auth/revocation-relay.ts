// The workers of one replica (http.workers > 1, node:cluster) apply a revocation made by any
// of them before that worker answers: it asks the primary to have each sibling poll the
// revocations table, and waits until they all have (or WAIT_MS passed, so a stuck worker
// cannot hold up the change; the siblings' own poll catches up within a second anyway).
import cluster, { type Worker } from 'node:cluster';

const ASK = 'berth:revocations:ask'; // worker → primary
const POLL = 'berth:revocations:poll'; // primary → each sibling
const POLLED = 'berth:revocations:polled'; // sibling → primary
const DONE = 'berth:revocations:done'; // primary → the worker that asked
const WAIT_MS = 1500;

interface Message {
  type?: string;
  id?: number;
}

/** In the cluster primary: relays asks to the siblings and answers once they have polled. */
export function relayRevocations(): void {
  let next = 0;
  const pending = new Map<number, { waiting: Set<number>; finish: () => void }>();
  cluster.on('message', (worker: Worker, msg: Message) => {
    if (msg?.type === ASK && typeof msg.id === 'number') {
      const id = ++next;
      const asked = msg.id;
      const siblings = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w !== worker && w.isConnected());
      const finish = () => {
        if (!pending.delete(id)) return;
        clearTimeout(timer);
        if (worker.isConnected()) worker.send({ type: DONE, id: asked });
      };
      const timer = setTimeout(finish, WAIT_MS);
      pending.set(id, { waiting: new Set(siblings.map((w) => w.id)), finish });
      for (const w of siblings) w.send({ type: POLL, id });
      if (siblings.length === 0) finish();
    } else if (msg?.type === POLLED && typeof msg.id === 'number') {
      const p = pending.get(msg.id);
      if (!p) return;
      p.waiting.delete(worker.id);
      if (p.waiting.size === 0) p.finish();
    }
  });
}

/**
 * In a worker: answers the primary's poll requests with `poll`, and returns the function that
 * makes the siblings poll (null outside a cluster worker).
 */
export function siblingRelay(poll: () => Promise<void>): (() => Promise<void>) | null {
  if (!cluster.isWorker || !process.send) return null;
  let next = 0;
  const waiting = new Map<number, () => void>();
  process.on('message', (msg: Message) => {
    if (msg?.type === POLL) {
      poll()
        .catch(() => {}) // the timer's poll logs failures
        .finally(() => process.send?.({ type: POLLED, id: msg.id }));
    } else if (msg?.type === DONE && typeof msg.id === 'number') {
      waiting.get(msg.id)?.();
    }
  });
  return () =>
    new Promise<void>((resolve) => {
      const id = ++next;
      const done = () => {
        waiting.delete(id);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, WAIT_MS + 500);
      waiting.set(id, done);
      process.send!({ type: ASK, id });
    });
}
