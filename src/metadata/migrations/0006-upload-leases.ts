// One writer per upload session at a time, across replicas: a claim with an expiry (registry/uploads.ts).
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0006_upload_leases',
  async up(db) {
    await db.schema.alterTable('uploads').addColumn('lease_token', 'text').execute();
    await db.schema.alterTable('uploads').addColumn('lease_until', 'bigint').execute();
  },
};
