// Retention rules as policies store them and the API shows them: which tags of which
// repositories a rule selects (the globs and matching of immutable-tag rules, tag-rules.ts), what
// it keeps among them, and how long untagged manifests stay. Validation and parsing; no I/O.
import { parseDurationMs } from '../config/values.js';
import type { RuleFields } from '../metadata/immutable-tag-rules.js';
import { invalidRule } from '../registry/tag-rules.js';

export interface KeepCriteria {
  /** The N tags with the newest push time (tags.updated_at). */
  latestPushed?: number;
  /** The N tags whose manifest was pulled most recently (never pulled counts as oldest). */
  latestPulled?: number;
  /** Durations (parseDurationMs: "30d", "12h"): pushed / pulled since now − duration. */
  pushedWithin?: string;
  pulledWithin?: string;
  /** Every selected tag. */
  forever?: boolean;
}

export interface RetentionRule extends RuleFields {
  keep: KeepCriteria;
  /** Untagged manifests of the selected repositories go once untagged this long; null = left alone. */
  untagged: string | null;
}

export const RETENTION_LIMITS = { rules: 20, count: 100_000, name: 64 } as const;
export const POLICY_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A rule with its durations in milliseconds, as the evaluator uses it. */
export interface ParsedRule extends RuleFields {
  latestPushed: number | null;
  latestPulled: number | null;
  pushedWithin: number | null;
  pulledWithin: number | null;
  forever: boolean;
  untagged: number | null;
}

function invalidDuration(v: unknown, what: string, positive: boolean): string | null {
  if (v === undefined || v === null) return null;
  const ms = typeof v === 'string' ? parseDurationMs(v) : undefined;
  if (ms === undefined) return `${what}: expected a duration such as 30d, 12h or 90m, got ${JSON.stringify(v)}`;
  if (positive && ms <= 0) return `${what}: must be longer than 0s`;
  return null;
}

function invalidCount(v: unknown, what: string): string | null {
  if (v === undefined) return null;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > RETENTION_LIMITS.count) return `${what}: a whole number from 1 to ${RETENTION_LIMITS.count}`;
  return null;
}

/** Why the rules cannot be used (the message names the rule by its position), or null. */
export function invalidRetentionRules(rules: RetentionRule[]): string | null {
  if (rules.length < 1 || rules.length > RETENTION_LIMITS.rules) return `a policy has 1 to ${RETENTION_LIMITS.rules} rules`;
  for (const [i, r] of rules.entries()) {
    const at = `rules[${i}]`;
    const why = invalidRule(r);
    if (why) return `${at}: ${why}`;
    const k = r.keep;
    const hasCriterion =
      k.latestPushed !== undefined || k.latestPulled !== undefined || k.pushedWithin !== undefined || k.pulledWithin !== undefined || k.forever === true;
    if (!hasCriterion) return `${at}.keep: name at least one of latestPushed, latestPulled, pushedWithin, pulledWithin, forever: true`;
    const bad =
      invalidCount(k.latestPushed, `${at}.keep.latestPushed`) ??
      invalidCount(k.latestPulled, `${at}.keep.latestPulled`) ??
      invalidDuration(k.pushedWithin, `${at}.keep.pushedWithin`, true) ??
      invalidDuration(k.pulledWithin, `${at}.keep.pulledWithin`, true) ??
      invalidDuration(r.untagged, `${at}.untagged`, false);
    if (bad) return bad;
  }
  return null;
}

/** The rule with defaults filled in (every repository, no exclusions, untagged left alone). */
export function normaliseRule(r: Partial<RetentionRule> & Pick<RetentionRule, 'tags' | 'keep'>): RetentionRule {
  const keep: KeepCriteria = {};
  for (const key of ['latestPushed', 'latestPulled', 'pushedWithin', 'pulledWithin', 'forever'] as const) {
    if (r.keep[key] !== undefined) (keep as Record<string, unknown>)[key] = r.keep[key];
  }
  return {
    repositories: r.repositories ?? '**',
    excludeRepositories: r.excludeRepositories ?? [],
    tags: r.tags,
    excludeTags: r.excludeTags ?? [],
    keep,
    untagged: r.untagged ?? null,
  };
}

const ms = (v: string | undefined | null): number | null => (v === undefined || v === null ? null : (parseDurationMs(v) ?? null));

/** A validated rule, parsed. */
export function parseRule(r: RetentionRule): ParsedRule {
  return {
    repositories: r.repositories,
    excludeRepositories: r.excludeRepositories,
    tags: r.tags,
    excludeTags: r.excludeTags,
    latestPushed: r.keep.latestPushed ?? null,
    latestPulled: r.keep.latestPulled ?? null,
    pushedWithin: ms(r.keep.pushedWithin),
    pulledWithin: ms(r.keep.pulledWithin),
    forever: r.keep.forever === true,
    untagged: ms(r.untagged),
  };
}
