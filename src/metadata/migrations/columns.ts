// What every migration shares: the column types that differ between SQLite and PostgreSQL,
// and the shape of one migration file. Migrations import this module and Kysely, nothing else.
import { sql, type ColumnDefinitionBuilder, type Kysely, type RawBuilder } from 'kysely';
import type { Dialect } from '../schema.js';

export interface Columns {
  readonly dialect: Dialect;
  /**
   * A surrogate key: SQLite's INTEGER PRIMARY KEY autoincrements; PostgreSQL gets an
   * identity column. Use as `.addColumn('id', 'integer', id)`.
   */
  id(col: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
  /**
   * Text that compares bytewise on both engines. PostgreSQL compares text by the database's
   * collation (often en_US: '-' and '.' ignored, case folded first); C compares bytes like
   * SQLite, so tag and catalog order and pagination agree. Use it for anything ordered,
   * paginated or compared to names.
   */
  readonly textC: 'text' | RawBuilder<unknown>;
}

export function columns(dialect: Dialect): Columns {
  const isPg = dialect === 'postgres';
  return {
    dialect,
    id: (col) => (isPg ? col.generatedByDefaultAsIdentity().primaryKey() : col.primaryKey().autoIncrement()),
    textC: isPg ? sql`text collate "C"` : 'text',
  };
}

/**
 * One migration, one file (`NNNN-name.ts` exporting `migration` named `NNNN_name`). The name is
 * what `berth_migrations` records, so it never changes once released.
 */
export interface BerthMigration {
  readonly name: string;
  // biome-ignore lint/suspicious/noExplicitAny: migrations see the schema as it was then, not today's Database type (Kysely's advice)
  up(db: Kysely<any>, columns: Columns): Promise<void>;
}
