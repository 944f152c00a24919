// Severity of an OSV advisory: the CVSS base score of its vector (v3.x preferred, then v4.0, then v2),
// else the textual severity a database attaches (GHSA's `database_specific.severity`, Ubuntu's priority).
import cvss from 'ae-cvss-calculator';
import type { Severity } from './types.js';

const { Cvss2, Cvss3P0, Cvss3P1, Cvss4P0 } = cvss;

export interface OsvSeverity {
  type: string;
  score: string;
}

/** The CVSS base score of a vector, or null when it is not a vector the calculator reads. */
export function cvssBaseScore(type: string, vector: string): number | null {
  try {
    const v = vector.trim();
    let scores: { base?: number };
    if (type === 'CVSS_V3' || v.startsWith('CVSS:3')) scores = (v.startsWith('CVSS:3.0/') ? new Cvss3P0(v) : new Cvss3P1(v)).calculateScores();
    else if (type === 'CVSS_V4' || v.startsWith('CVSS:4')) scores = new Cvss4P0(v).calculateScores();
    else if (type === 'CVSS_V2') scores = new Cvss2(v).calculateScores();
    else return null;
    return typeof scores.base === 'number' && Number.isFinite(scores.base) ? scores.base : null;
  } catch {
    return null;
  }
}

/** The qualitative rating of a v3/v4 score (FIRST's table); v2 has no critical band. */
export function ratingOf(score: number, version: 2 | 3 | 4 = 3): Severity {
  if (version === 2) return score >= 7 ? 'high' : score >= 4 ? 'medium' : 'low';
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  return 'low';
}

const WORDS: Record<string, Severity> = {
  critical: 'critical',
  high: 'high',
  important: 'high',
  moderate: 'medium',
  medium: 'medium',
  low: 'low',
  negligible: 'low',
  minor: 'low',
};

export function severityWord(word: unknown): Severity | null {
  return typeof word === 'string' ? (WORDS[word.trim().toLowerCase()] ?? null) : null;
}

/**
 * The severity of an advisory for one affected package: `severities` are the record's and the affected
 * entry's `severity` lists, `words` the textual severities found in `database_specific`/`ecosystem_specific`.
 */
export function severityOf(severities: OsvSeverity[], words: unknown[]): { severity: Severity; score?: number } {
  const order: [string, 2 | 3 | 4][] = [
    ['CVSS_V3', 3],
    ['CVSS_V4', 4],
    ['CVSS_V2', 2],
  ];
  for (const [type, version] of order) {
    for (const s of severities) {
      if (s?.type !== type || typeof s.score !== 'string') continue;
      const score = cvssBaseScore(type, s.score);
      if (score !== null) return { severity: ratingOf(score, version), score };
    }
  }
  for (const s of severities) {
    const w = severityWord(s?.score);
    if (w) return { severity: w };
  }
  for (const w of words) {
    const sev = severityWord(w);
    if (sev) return { severity: sev };
  }
  return { severity: 'unknown' };
}
