// Vulnerability scanning (src/scan/): the queue of scans any replica claims with a lease, the
// report of each image manifest (by digest: the same bytes have the same findings in every
// repository), each namespace's vulnerability policy, and what the scanners last loaded (the
// advisory data's version, so a change re-queues the reports made with older data). Types:
// src/scan/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0016_scans',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('scan_requests')
      .addColumn('id', 'integer', id)
      .addColumn('repository', textC, (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      // push | schedule | manual | advisories
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('requested_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      // The replica scanning it now, and until when its claim holds (ms).
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('last_error', 'text')
      .addUniqueConstraint('scan_requests_image', ['repository', 'digest'])
      .execute();
    await db.schema.createIndex('scan_requests_due').on('scan_requests').column('next_attempt_at').execute();
    await db.schema.createIndex('scan_requests_digest').on('scan_requests').column('digest').execute();
    await db.schema
      .createTable('scan_reports')
      .addColumn('digest', 'text', (c) => c.primaryKey())
      // scanned | failed
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('scanner', 'text', (c) => c.notNull())
      .addColumn('scanner_version', 'text', (c) => c.notNull())
      .addColumn('advisory_version', 'text', (c) => c.notNull())
      .addColumn('scanned_at', 'bigint', (c) => c.notNull())
      .addColumn('critical', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('high', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('medium', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('low', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('unknown', 'integer', (c) => c.notNull().defaultTo(0))
      // JSON array of findings; the operating system; how many packages were found.
      .addColumn('findings', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('os', 'text')
      .addColumn('packages', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('error', 'text')
      .execute();
    await db.schema
      .createTable('vulnerability_policies')
      .addColumn('namespace', textC, (c) => c.primaryKey())
      // The lowest severity refused: critical | high | medium | low | unknown.
      .addColumn('severity', 'text', (c) => c.notNull())
      // audit | enforce
      .addColumn('mode', 'text', (c) => c.notNull())
      // JSON array of advisory ids (CVE-…, GHSA-…) that never count.
      .addColumn('allowlist', 'text', (c) => c.notNull().defaultTo('[]'))
      // allow | deny: what an image without a report gets under enforce.
      .addColumn('unscanned', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('scan_state')
      .addColumn('scanner', 'text', (c) => c.primaryKey())
      .addColumn('advisory_version', 'text', (c) => c.notNull())
      .addColumn('changed_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
