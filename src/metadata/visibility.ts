// Who may see which repository, as one SQL condition over `repositories as r`: the rule
// behind the catalog, the API's lists and search. It must agree with auth/policy.ts:
// public repositories, the caller's own namespace, organisations it belongs to (directly or
// through a team), repositories it collaborates on; administrators see everything.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { TokenLimits } from '../auth/policy.js';

export interface RepositoryViewer {
  all: boolean;
  /** null = anonymous. */
  userId?: number | null;
  username?: string;
  /** An access token limited to some repositories sees only those (and public ones). */
  limits?: TokenLimits;
}

// biome-ignore lint/suspicious/noExplicitAny: applies to any query that has `repositories as r`, whatever else it joins
export function visibleTo(eb: ExpressionBuilder<any, any>, who: RepositoryViewer): Expression<SqlBool> {
  if (who.all) return sql<SqlBool>`1 = 1`;
  const uid = who.userId ?? null;
  const ors: Expression<SqlBool>[] = [eb('r.visibility', '=', 'public')];
  if (uid === null) return eb.or(ors);
  const mine: Expression<SqlBool>[] = [];
  if (who.username) mine.push(eb('r.namespace', '=', who.username));
  mine.push(
    eb(
      'r.namespace',
      'in',
      eb.selectFrom('organizations as o').innerJoin('org_members as om', 'om.org_id', 'o.id').select('o.name').where('om.user_id', '=', uid),
    ),
    eb(
      'r.namespace',
      'in',
      eb
        .selectFrom('organizations as o')
        .innerJoin('teams as t', 't.org_id', 'o.id')
        .innerJoin('team_members as tm', 'tm.team_id', 't.id')
        .select('o.name')
        .where('tm.user_id', '=', uid),
    ),
    eb('r.id', 'in', eb.selectFrom('collaborators as c').select('c.repository_id').where('c.user_id', '=', uid)),
  );
  const limit = who.limits?.resource ?? null;
  if (limit === null) {
    ors.push(eb.or(mine));
  } else {
    // A range, not LIKE (whose case and escaping differ between SQLite and PostgreSQL).
    const inLimit = limit.endsWith('/*')
      ? eb.and([eb('r.name', '>=', limit.slice(0, -1)), eb('r.name', '<', `${limit.slice(0, -1)}\u{10FFFF}`)])
      : eb('r.name', '=', limit);
    ors.push(eb.and([eb.or(mine), inLimit]));
  }
  return eb.or(ors);
}
