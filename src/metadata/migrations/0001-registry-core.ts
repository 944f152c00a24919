// The registry's core tables: repositories, blobs and which repositories may read them,
// manifests and what they reference, tags and their history, uploads, the GC review queue.
// Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0001_registry_core',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('repositories')
      .addColumn('id', 'integer', id)
      .addColumn('name', textC, (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('blobs')
      .addColumn('digest', textC, (c) => c.primaryKey())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('repository_blobs')
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('digest', textC, (c) => c.notNull().references('blobs.digest'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
      .execute();
    await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

    await db.schema
      .createTable('manifests')
      .addColumn('id', 'integer', id)
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('digest', textC, (c) => c.notNull())
      .addColumn('media_type', textC, (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('artifact_type', textC)
      .addColumn('subject_digest', textC)
      .addColumn('annotations', textC)
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
      .execute();
    await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
    await db.schema.createIndex('manifests_digest').on('manifests').column('digest').execute();

    await db.schema
      .createTable('manifest_references')
      .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
      .addColumn('digest', textC, (c) => c.notNull())
      .addColumn('kind', textC, (c) => c.notNull())
      .addPrimaryKeyConstraint('manifest_references_pk', ['manifest_id', 'digest', 'kind'])
      .execute();
    await db.schema.createIndex('manifest_references_digest').on('manifest_references').column('digest').execute();

    await db.schema
      .createTable('tags')
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
      .execute();
    await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

    await db.schema
      .createTable('tag_history')
      .addColumn('id', 'integer', id)
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('digest', textC)
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tag_history_repo_tag').on('tag_history').columns(['repository_id', 'name']).execute();

    await db.schema
      .createTable('uploads')
      .addColumn('id', textC, (c) => c.primaryKey())
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('gc_blob_review')
      .addColumn('digest', textC, (c) => c.primaryKey())
      .addColumn('review_after', 'bigint', (c) => c.notNull())
      .execute();
  },
};
