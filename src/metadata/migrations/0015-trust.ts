// Signature trust (src/trust/, docs/trust.md): the trust policies set through the API (the
// configuration file's live in memory), the verdicts computed for each signature, and the work
// still owed (a signature pushed, a policy's keys changed) that the `trust-verify` job catches up
// on, so a crash between a push and its verification loses nothing. Types: src/trust/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0015_trust',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('trust_policies')
      .addColumn('id', 'integer', id)
      // 'global' (scope ''), 'namespace' (its name) or 'repository' (its full name).
      .addColumn('scope_kind', 'text', (c) => c.notNull())
      .addColumn('scope', textC, (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      // JSON: keys, notation trust store and identities, keyless trusted root and identities.
      .addColumn('material', 'text', (c) => c.notNull())
      // A hash of the material: verdicts are stored per version, so new keys mean new verdicts.
      .addColumn('version', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('trust_policies_scope', ['scope_kind', 'scope'])
      .execute();
    await db.schema
      .createTable('trust_verdicts')
      .addColumn('subject_digest', 'text', (c) => c.notNull())
      .addColumn('signature_digest', 'text', (c) => c.notNull())
      .addColumn('policy_version', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      // The key name or identity that signed (verified), or the one the signature names; null when none.
      .addColumn('signer', 'text')
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('verified_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('trust_verdicts_pk', ['subject_digest', 'signature_digest', 'policy_version'])
      .execute();
    await db.schema
      .createTable('trust_pending')
      .addColumn('id', 'integer', id)
      // 'signature': verify one pushed signature (key: repository@digest);
      // 'scope': verify every signature under a policy whose material changed (key: kind:scope@version).
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('key', textC, (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_until', 'bigint')
      .addColumn('last_error', 'text')
      .addUniqueConstraint('trust_pending_key', ['kind', 'key'])
      .execute();
    await db.schema.createIndex('trust_pending_due').on('trust_pending').columns(['next_attempt_at']).execute();
  },
};
