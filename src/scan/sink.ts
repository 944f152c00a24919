// The registry event sink of scanning: inside the transaction of a push, a scan request for each
// image or index pushed (scanning.onpush), so a push that commits always has its scan queued and a
// crash between the push and the scan loses nothing. Artifacts (signatures, SBOMs) are not scanned.
import type { Tx } from '../metadata/database.js';
import type { ScanStore } from '../metadata/scan-store.js';
import type { RegistryEvent, RegistryEventSink } from '../registry/events.js';
import { scannableKind } from './scanner.js';

export class ScanSink implements RegistryEventSink {
  constructor(private readonly store: ScanStore) {}

  async record(tx: Tx, events: RegistryEvent[]): Promise<void> {
    const seen = new Set<string>();
    const requests = [];
    for (const e of events) {
      if (e.type !== 'push' || !e.digest || !e.mediaType || !scannableKind(e.mediaType, e.artifactType)) continue;
      const key = `${e.repository}@${e.digest}`;
      if (seen.has(key)) continue;
      seen.add(key);
      requests.push({ repository: e.repository, digest: e.digest, reason: 'push' as const, requestedBy: e.actor });
    }
    if (requests.length > 0) await this.store.queue(tx, requests, Math.max(...events.map((e) => e.at)));
  }
}
