// Accounts and who may do what: users, namespaces, organisations, teams, collaborators,
// access and refresh tokens, signing keys, login failures, the audit log; repositories
// gain a namespace and a visibility. Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0002_accounts',
  async up(db, { id, textC }) {
    // Repositories belong to a namespace (the first path component) and are private unless made public.
    await db.schema
      .alterTable('repositories')
      .addColumn('namespace', textC, (c) => c.notNull().defaultTo(''))
      .execute();
    await db.schema
      .alterTable('repositories')
      .addColumn('visibility', textC, (c) => c.notNull().defaultTo('private'))
      .execute();
    for (const r of await db.selectFrom('repositories').select(['id', 'name']).execute()) {
      await db
        .updateTable('repositories')
        .set({ namespace: String(r.name).split('/')[0] })
        .where('id', '=', r.id)
        .execute();
    }
    await db.schema.createIndex('repositories_namespace').on('repositories').columns(['namespace', 'name']).execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'integer', id)
      .addColumn('username', textC, (c) => c.notNull().unique())
      .addColumn('password_hash', textC, (c) => c.notNull())
      .addColumn('email', textC)
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
      .addColumn('name', textC, (c) => c.primaryKey())
      .addColumn('kind', textC, (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('organizations')
      .addColumn('id', 'integer', id)
      .addColumn('name', textC, (c) => c.notNull().unique().references('namespaces.name'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('org_members')
      .addColumn('org_id', 'integer', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('role', textC, (c) => c.notNull())
      .addPrimaryKeyConstraint('org_members_pk', ['org_id', 'user_id'])
      .execute();
    await db.schema.createIndex('org_members_user').on('org_members').column('user_id').execute();

    await db.schema
      .createTable('teams')
      .addColumn('id', 'integer', id)
      .addColumn('org_id', 'integer', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('permission', textC, (c) => c.notNull())
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
      .addColumn('permission', textC, (c) => c.notNull())
      .addPrimaryKeyConstraint('collaborators_pk', ['repository_id', 'user_id'])
      .execute();
    await db.schema.createIndex('collaborators_user').on('collaborators').column('user_id').execute();

    // Personal access tokens and robot secrets: only a SHA-256 of the (high-entropy) secret is kept.
    await db.schema
      .createTable('access_tokens')
      .addColumn('id', 'integer', id)
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('token_hash', textC, (c) => c.notNull().unique())
      .addColumn('scopes', textC, (c) => c.notNull())
      .addColumn('resource', textC)
      .addColumn('expires_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user_id').execute();

    await db.schema
      .createTable('refresh_tokens')
      .addColumn('token_hash', textC, (c) => c.primaryKey())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('access_token_id', 'integer', (c) => c.references('access_tokens.id').onDelete('cascade'))
      .addColumn('client_id', textC, (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('refresh_tokens_user').on('refresh_tokens').column('user_id').execute();

    // Token signing keys, shared by every replica; retired keys stay published until their tokens expire.
    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', textC, (c) => c.primaryKey())
      .addColumn('alg', textC, (c) => c.notNull())
      .addColumn('private_pem', textC, (c) => c.notNull())
      .addColumn('public_jwk', textC, (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .execute();

    // Failed-login counters per user and per address, shared by replicas.
    await db.schema
      .createTable('login_failures')
      .addColumn('key', textC, (c) => c.primaryKey())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('audit_log')
      .addColumn('id', 'integer', id)
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('actor', textC)
      .addColumn('action', textC, (c) => c.notNull())
      .addColumn('target', textC)
      .addColumn('address', textC)
      .addColumn('detail', textC)
      .execute();
    await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
  },
};
