// Schema migrations, written once with Kysely's schema builder for SQLite and PostgreSQL.
import type { Kysely, Migration, MigrationProvider } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

const migrations = (dialect: Dialect): Record<string, Migration> => ({
  '0001_registry_core': {
    async up(db: Kysely<any>) {
      // Surrogate keys: SQLite's INTEGER PRIMARY KEY autoincrements; PostgreSQL gets an identity column.
      const isPg = dialect === 'postgres';
      const id = (col: any) => (isPg ? col.generatedByDefaultAsIdentity().primaryKey() : col.primaryKey().autoIncrement());

      await db.schema
        .createTable('repositories')
        .addColumn('id', 'integer', id)
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('blobs')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

      await db.schema
        .createTable('manifests')
        .addColumn('id', 'integer', id)
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('artifact_type', 'text')
        .addColumn('subject_digest', 'text')
        .addColumn('annotations', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
      await db.schema.createIndex('manifests_digest').on('manifests').column('digest').execute();

      await db.schema
        .createTable('manifest_references')
        .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pk', ['manifest_id', 'digest', 'kind'])
        .execute();
      await db.schema.createIndex('manifest_references_digest').on('manifest_references').column('digest').execute();

      await db.schema
        .createTable('tags')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

      await db.schema
        .createTable('tag_history')
        .addColumn('id', 'integer', id)
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tag_history_repo_tag').on('tag_history').columns(['repository_id', 'name']).execute();

      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('gc_blob_review')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('review_after', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
});

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      return migrations(dialect);
    },
  };
}
