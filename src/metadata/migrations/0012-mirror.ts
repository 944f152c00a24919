// The pull-through cache (src/mirror/, docs/mirror.md): which manifests were fetched from an
// upstream and when (the eviction job's candidates; their last pull is manifests.last_pulled_at),
// and when the upstream last confirmed each cached tag (tags are revalidated after a TTL).
// Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0012_mirror',
  async up(db) {
    await db.schema.alterTable('manifests').addColumn('mirrored_at', 'bigint').execute();
    await db.schema.createIndex('manifests_mirrored_at').on('manifests').column('mirrored_at').execute();
    await db.schema.alterTable('tags').addColumn('validated_at', 'bigint').execute();
  },
};
