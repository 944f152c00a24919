// Schema migrations, written once with Kysely's schema builder for SQLite and PostgreSQL.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { indexMigration } from './migrations-index.js';
import { sessionMigrations } from './migrations-sessions.js';
import { webhookMigrations } from './migrations-webhooks.js';

export type Dialect = 'sqlite' | 'postgres';

const migrations = (dialect: Dialect): Record<string, Migration> => ({
  '0001_registry_core': {
    async up(db: Kysely<any>) {
      // Surrogate keys: SQLite's INTEGER PRIMARY KEY autoincrements; PostgreSQL gets an identity column.
      const isPg = dialect === 'postgres';
      const id = (col: any) => (isPg ? col.generatedByDefaultAsIdentity().primaryKey() : col.primaryKey().autoIncrement());
      // PostgreSQL compares text by the database's collation (often en_US: '-' and '.' ignored,
      // case folded first); C compares bytes like SQLite, so tag and catalog order and pagination agree.
      const text = isPg ? sql`text collate "C"` : 'text';

      await db.schema
        .createTable('repositories')
        .addColumn('id', 'integer', id)
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('blobs')
        .addColumn('digest', text, (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', text, (c) => c.notNull().references('blobs.digest'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();

      await db.schema
        .createTable('manifests')
        .addColumn('id', 'integer', id)
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('media_type', text, (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('artifact_type', text)
        .addColumn('subject_digest', text)
        .addColumn('annotations', text)
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
      await db.schema.createIndex('manifests_digest').on('manifests').column('digest').execute();

      await db.schema
        .createTable('manifest_references')
        .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pk', ['manifest_id', 'digest', 'kind'])
        .execute();
      await db.schema.createIndex('manifest_references_digest').on('manifest_references').column('digest').execute();

      await db.schema
        .createTable('tags')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();

      await db.schema
        .createTable('tag_history')
        .addColumn('id', 'integer', id)
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('digest', text)
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tag_history_repo_tag').on('tag_history').columns(['repository_id', 'name']).execute();

      await db.schema
        .createTable('uploads')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('gc_blob_review')
        .addColumn('digest', text, (c) => c.primaryKey())
        .addColumn('review_after', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0002_accounts': {
    async up(db: Kysely<any>) {
      const isPg = dialect === 'postgres';
      const id = (col: any) => (isPg ? col.generatedByDefaultAsIdentity().primaryKey() : col.primaryKey().autoIncrement());
      // PostgreSQL compares text by the database's collation (often en_US: '-' and '.' ignored,
      // case folded first); C compares bytes like SQLite, so tag and catalog order and pagination agree.
      const text = isPg ? sql`text collate "C"` : 'text';

      // Repositories belong to a namespace (the first path component) and are private unless made public.
      await db.schema.alterTable('repositories').addColumn('namespace', text, (c) => c.notNull().defaultTo('')).execute();
      await db.schema.alterTable('repositories').addColumn('visibility', text, (c) => c.notNull().defaultTo('private')).execute();
      for (const r of await db.selectFrom('repositories').select(['id', 'name']).execute()) {
        await db.updateTable('repositories').set({ namespace: String(r.name).split('/')[0] }).where('id', '=', r.id).execute();
      }
      await db.schema.createIndex('repositories_namespace').on('repositories').columns(['namespace', 'name']).execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'integer', id)
        .addColumn('username', text, (c) => c.notNull().unique())
        .addColumn('password_hash', text, (c) => c.notNull())
        .addColumn('email', text)
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        // Robot accounts belong to an organisation and cannot sign in to the API with a password.
        .addColumn('robot_org_id', 'integer')
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('password_changed_at', 'bigint', (c) => c.notNull())
        .execute();

      // One name space for users and organisations: a name is owned by exactly one of them.
      await db.schema
        .createTable('namespaces')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('kind', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('organizations')
        .addColumn('id', 'integer', id)
        .addColumn('name', text, (c) => c.notNull().unique().references('namespaces.name'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('org_members')
        .addColumn('org_id', 'integer', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('org_members_pk', ['org_id', 'user_id'])
        .execute();
      await db.schema.createIndex('org_members_user').on('org_members').column('user_id').execute();

      await db.schema
        .createTable('teams')
        .addColumn('id', 'integer', id)
        .addColumn('org_id', 'integer', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('permission', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('teams_org_name', ['org_id', 'name'])
        .execute();

      await db.schema
        .createTable('team_members')
        .addColumn('team_id', 'integer', (c) => c.notNull().references('teams.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'user_id'])
        .execute();
      await db.schema.createIndex('team_members_user').on('team_members').column('user_id').execute();

      await db.schema
        .createTable('collaborators')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('permission', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('collaborators_pk', ['repository_id', 'user_id'])
        .execute();
      await db.schema.createIndex('collaborators_user').on('collaborators').column('user_id').execute();

      // Personal access tokens and robot secrets: only a SHA-256 of the (high-entropy) secret is kept.
      await db.schema
        .createTable('access_tokens')
        .addColumn('id', 'integer', id)
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('token_hash', text, (c) => c.notNull().unique())
        .addColumn('scopes', text, (c) => c.notNull())
        .addColumn('resource', text)
        .addColumn('expires_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user_id').execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('token_hash', text, (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('access_token_id', 'integer', (c) => c.references('access_tokens.id').onDelete('cascade'))
        .addColumn('client_id', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').column('user_id').execute();

      // Token signing keys, shared by every replica; retired keys stay published until their tokens expire.
      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', text, (c) => c.primaryKey())
        .addColumn('alg', text, (c) => c.notNull())
        .addColumn('private_pem', text, (c) => c.notNull())
        .addColumn('public_jwk', text, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .execute();

      // Failed-login counters per user and per address, shared by replicas.
      await db.schema
        .createTable('login_failures')
        .addColumn('key', text, (c) => c.primaryKey())
        .addColumn('window_start', 'bigint', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'integer', id)
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', text)
        .addColumn('action', text, (c) => c.notNull())
        .addColumn('target', text)
        .addColumn('address', text)
        .addColumn('detail', text)
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
    },
  },
  // One writer per upload session at a time, across replicas: a claim with an expiry (registry/uploads.ts).
  '0006_upload_leases': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('uploads').addColumn('lease_token', 'text').execute();
      await db.schema.alterTable('uploads').addColumn('lease_until', 'bigint').execute();
    },
  },
});

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      return { ...migrations(dialect), ...webhookMigrations(dialect), '0003_index': indexMigration(dialect), ...sessionMigrations(dialect) };
    },
  };
}
