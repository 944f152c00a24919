// The registry event sink of replication: inside the transaction of a push or delete, one task
// per event-triggered push policy that selects the change (repository and tag filters; deletes
// only for policies that replicate them). The replication job copies them within seconds, on
// whichever replica claims the policy; a rolled-back push queues nothing.
import type { ReplicationStore, NewReplicationTask } from '../metadata/replication-store.js';
import type { Tx } from '../metadata/database.js';
import type { RegistryEvent, RegistryEventSink } from '../registry/events.js';
import { repositoryWanted, tagWanted } from './policy-fields.js';

const RELEVANT = new Set<RegistryEvent['type']>(['push', 'tag.delete', 'manifest.delete', 'repository.delete']);

export class ReplicationSink implements RegistryEventSink {
  constructor(private readonly store: ReplicationStore) {}

  async record(tx: Tx, events: RegistryEvent[]): Promise<void> {
    const relevant = events.filter((e) => RELEVANT.has(e.type));
    if (relevant.length === 0) return;
    const policies = await this.store.eventPolicies(tx);
    if (policies.length === 0) return;
    const tasks: NewReplicationTask[] = [];
    for (const p of policies) {
      for (const e of relevant) {
        if (!repositoryWanted(p, e.repository)) continue;
        const task = (reference: string, kind: 'copy' | 'delete', digest: string | null = null) =>
          tasks.push({ policyId: p.id, repository: e.repository, reference, digest, kind });
        if (e.type === 'push') {
          if (e.tag !== undefined) {
            if (tagWanted(p, e.tag)) task(e.tag, 'copy');
          } else if (e.digest) task(e.digest, 'copy');
          continue;
        }
        if (!p.replicateDeletes) continue;
        if (e.type === 'tag.delete' && e.tag !== undefined && tagWanted(p, e.tag)) task(e.tag, 'delete', e.digest ?? null);
        else if (e.type === 'manifest.delete' && e.digest) task(e.digest, 'delete');
        else if (e.type === 'repository.delete') task('', 'delete');
      }
    }
    await this.store.queueTasks(tx, tasks, Math.max(...relevant.map((e) => e.at)));
  }
}
