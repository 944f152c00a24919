// What the analyser hands to the scan service (src/scan/*): facts about an image, no I/O of its own.
import type { Readable } from 'node:stream';

/**
 * One installed package. `ecosystem` is the OSV ecosystem the package is matched in: OS packages carry
 * the release when the image's os-release names it (`Debian:12`, `Alpine:v3.19`, `Red Hat`), language
 * packages the plain name (`npm`, `PyPI`, `Go`).
 */
export interface Package {
  ecosystem: string;
  name: string;
  version: string;
  purl: string;
  /** File path in the image the package was read from. */
  source: string;
  /** Digest of the layer that holds that file. */
  layer: string;
  /** The source package (dpkg `Source:`, apk origin, rpm SOURCERPM) that OS advisories are written against. */
  sourceName?: string;
  sourceVersion?: string;
  arch?: string;
  license?: string;
}

export interface LayerSource {
  digest: string;
  mediaType: string;
  open(): Promise<Readable>;
}

export interface AnalyzeOptions {
  /** Largest package database or lockfile read into memory; larger files are skipped and named in `skipped`. */
  maxFileBytes: number;
  /** Stops the analysis (with the signal's reason) between two tar entries, e.g. when a scan's lease is lost. */
  signal?: AbortSignal;
}

export interface AnalyzeResult {
  os?: { id: string; version: string; name?: string };
  packages: Package[];
  /** Files that looked like package data but were not read (too large, unreadable), with why. */
  skipped: { path: string; layer: string; reason: string }[];
}

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'unknown';

export interface Finding {
  id: string;
  aliases: string[];
  package: string;
  ecosystem: string;
  installed: string;
  /** The lowest fixed version above the installed one, when the advisory names one. */
  fixed?: string;
  severity: Severity;
  /** CVSS base score, when the advisory carries a vector. */
  score?: number;
  summary: string;
  purl?: string;
  source?: string;
}

export interface AdvisoryDb {
  /** Content hash of the advisory files: changes exactly when the data does. */
  version: string;
  /** How many advisories were loaded. */
  size: number;
  match(pkgs: Package[]): Finding[];
}
