// The schema a database ends up with, as plain data that can be compared with a snapshot
// (test/metadata/schema-snapshot.json): SQLite's own CREATE statements, and on PostgreSQL
// every column, constraint and index as the catalog describes it. Kysely's migration
// bookkeeping tables are left out.
import { sql, type Kysely } from 'kysely';

export interface SchemaDump {
  sqlite?: { type: string; name: string; table: string; sql: string | null }[];
  postgres?: {
    columns: Record<string, unknown>[];
    constraints: { table: string; name: string; definition: string }[];
    indexes: { table: string; name: string; definition: string }[];
  };
}

export async function dumpSqliteSchema(db: Kysely<any>): Promise<NonNullable<SchemaDump['sqlite']>> {
  const r = await sql<{ type: string; name: string; table: string; sql: string | null }>`
    select type, name, tbl_name as "table", sql from sqlite_master
    where name not like 'berth_migrations%' and tbl_name not like 'berth_migrations%'
    order by tbl_name, type desc, name`.execute(db);
  return r.rows;
}

export async function dumpPostgresSchema(db: Kysely<any>): Promise<NonNullable<SchemaDump['postgres']>> {
  const columns = await sql<Record<string, unknown>>`
    select table_name, column_name, ordinal_position, data_type, collation_name, is_nullable,
           column_default, is_identity, identity_generation
    from information_schema.columns
    where table_schema = current_schema() and table_name not like 'berth_migrations%'
    order by table_name, ordinal_position`.execute(db);
  const constraints = await sql<{ table: string; name: string; definition: string }>`
    select t.relname as "table", c.conname as name, pg_get_constraintdef(c.oid) as definition
    from pg_constraint c join pg_class t on t.oid = c.conrelid
    where t.relnamespace = current_schema()::regnamespace and t.relname not like 'berth_migrations%'
    order by t.relname, c.conname`.execute(db);
  const indexes = await sql<{ table: string; name: string; definition: string }>`
    select tablename as "table", indexname as name, replace(indexdef, ' ' || schemaname || '.', ' ') as definition
    from pg_indexes
    where schemaname = current_schema() and tablename not like 'berth_migrations%'
    order by tablename, indexname`.execute(db);
  return { columns: columns.rows, constraints: constraints.rows, indexes: indexes.rows };
}
