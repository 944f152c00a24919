// The rows the leftover sweep (gc/sweep.ts) holds storage against: which digests have a blob row and
// which upload ids a session row. Bytes in storage without either are nobody's.
import type { MetadataDb } from './database.js';

export class SweepStore {
  constructor(private readonly meta: MetadataDb) {}

  /** The digests among `digests` (at most a few thousand) that no blob row names. */
  async unknownBlobs(digests: readonly string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const rows = await this.meta.db
      .selectFrom('blobs')
      .select('digest')
      .where('digest', 'in', [...digests])
      .execute();
    const known = new Set(rows.map((r) => r.digest));
    return digests.filter((d) => !known.has(d));
  }

  /** The ids among `ids` (at most a few thousand) that no upload session row names. */
  async unknownUploads(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.meta.db
      .selectFrom('uploads')
      .select('id')
      .where('id', 'in', [...ids])
      .execute();
    const known = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !known.has(id));
  }
}
