// The built-in scanner: the analyser (src/scan/analyze/) reads the image's layers as streams from
// storage, lists its packages, matches them against the OSV advisories loaded last and writes the
// CycloneDX SBOM. Runs in this process, on whichever replica claimed the scan.
import type { Readable } from 'node:stream';
import { analyzeImage, cycloneDx } from './analyze/index.js';
import type { AdvisorySource } from './advisories.js';
import { NO_ADVISORIES } from './advisories.js';
import type { ImageRef, ImageScanner, ScanResult } from './scanner.js';
import { sortFindings } from './verdict.js';
import { parseDigest } from '../oci/digest.js';
import type { Finding } from '../metadata/scan-store.js';

export const BUILTIN_SCANNER = 'berth';

export class BuiltinScanner implements ImageScanner {
  readonly name = BUILTIN_SCANNER;

  constructor(
    private readonly deps: {
      advisories: AdvisorySource;
      readBlob: (digest: string) => Promise<Readable>;
      version: string;
      maxFileBytes: number;
    },
  ) {}

  async refresh(): Promise<string> {
    return this.deps.advisories.reload();
  }

  async scan(image: ImageRef): Promise<ScanResult> {
    const layers = (image.manifest.layers ?? []).map((l) => ({
      digest: l.digest,
      mediaType: l.mediaType,
      open: () => this.deps.readBlob(parseDigest(l.digest).value),
    }));
    // Without the advisory data an image would look clean: the scan fails (and is retried) instead.
    if (this.deps.advisories.configured && !this.deps.advisories.current()) throw new Error('the advisory data has not been loaded (yet)');
    const { os, packages } = await analyzeImage(layers, { maxFileBytes: this.deps.maxFileBytes });
    const db = this.deps.advisories.current();
    const findings: Finding[] = sortFindings(db ? db.match(packages).map((f) => ({ ...f, aliases: f.aliases ?? [] })) : []);
    return {
      scannerVersion: this.deps.version,
      advisoryVersion: db?.version ?? NO_ADVISORIES,
      os: os ? `${os.id} ${os.version}`.trim() : null,
      packages: packages.length,
      findings,
      sbom: cycloneDx({ name: image.repository, digest: image.digest }, packages),
    };
  }
}
