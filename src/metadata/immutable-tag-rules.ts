// The rules that make tags immutable, per namespace (matching: src/registry/tag-rules.ts).
// Managed through the REST API by the namespace's administrators; read inside every manifest
// PUT and DELETE transaction of the namespace, so a rule applies from its commit on, on every replica.
import type { Selectable } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { ImmutableTagRulesTable } from './schema.js';

export interface ImmutableTagRule {
  id: number;
  namespace: string;
  name: string;
  /** Glob over the repository's path below the namespace ("**" = every repository). */
  repositories: string;
  /** Glob over tag names. */
  tags: string;
  excludeRepositories: string[];
  excludeTags: string[];
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export type RuleFields = Pick<ImmutableTagRule, 'repositories' | 'tags' | 'excludeRepositories' | 'excludeTags'>;

type Row = Selectable<ImmutableTagRulesTable>;

function ruleOf(r: Row): ImmutableTagRule {
  return {
    id: Number(r.id),
    namespace: r.namespace,
    name: r.name,
    repositories: r.repositories,
    tags: r.tags,
    excludeRepositories: JSON.parse(r.exclude_repositories) as string[],
    excludeTags: JSON.parse(r.exclude_tags) as string[],
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class ImmutableTagRuleStore {
  constructor(private readonly meta: MetadataDb) {}

  /** The namespace's rules, by name. */
  async forNamespace(namespace: string, tx: Tx = this.meta.db): Promise<ImmutableTagRule[]> {
    const rows = await tx.selectFrom('immutable_tag_rules').selectAll().where('namespace', '=', namespace).orderBy('name').execute();
    return rows.map(ruleOf);
  }

  async get(namespace: string, name: string, tx: Tx = this.meta.db): Promise<ImmutableTagRule | null> {
    const row = await tx.selectFrom('immutable_tag_rules').selectAll().where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
    return row ? ruleOf(row) : null;
  }

  /** False when the namespace already has a rule of that name. */
  async create(tx: Tx, namespace: string, name: string, f: RuleFields, createdBy: string | null, now: number): Promise<boolean> {
    const res = await tx
      .insertInto('immutable_tag_rules')
      .values({
        namespace,
        name,
        repositories: f.repositories,
        tags: f.tags,
        exclude_repositories: JSON.stringify(f.excludeRepositories),
        exclude_tags: JSON.stringify(f.excludeTags),
        created_by: createdBy,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['namespace', 'name']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** False when there is no such rule. */
  async update(tx: Tx, namespace: string, name: string, f: RuleFields, now: number): Promise<boolean> {
    const res = await tx
      .updateTable('immutable_tag_rules')
      .set({
        repositories: f.repositories,
        tags: f.tags,
        exclude_repositories: JSON.stringify(f.excludeRepositories),
        exclude_tags: JSON.stringify(f.excludeTags),
        updated_at: now,
      })
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async delete(tx: Tx, namespace: string, name: string): Promise<boolean> {
    const res = await tx.deleteFrom('immutable_tag_rules').where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
