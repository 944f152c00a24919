// What a scanner is to the scan service: the built-in analyser (builtin-scanner.ts) or a Harbor
// pluggable scanner adapter (harbor-adapter.ts). Also which manifests are images worth scanning.
import type { Finding } from '../metadata/scan-store.js';
import { DOCKER_MANIFEST, OCI_MANIFEST, isIndexMediaType } from '../oci/media-types.js';

/** One image to scan: where it is, and its manifest as stored. */
export interface ImageRef {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  manifest: { config?: { digest: string; mediaType: string }; layers?: { digest: string; mediaType: string; size: number }[] };
}

export interface ScanResult {
  scannerVersion: string;
  advisoryVersion: string;
  os: string | null;
  packages: number;
  findings: Finding[];
  /** The CycloneDX SBOM (application/vnd.cyclonedx+json), when the scanner wrote one. */
  sbom?: Buffer;
}

export interface ImageScanner {
  /** The name reports carry ('berth', or the adapter's configured name). */
  readonly name: string;
  /** Loads (or reloads) what the scanner matches against; resolves with its version. */
  refresh(): Promise<string>;
  scan(image: ImageRef): Promise<ScanResult>;
}

const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);

/** 'image' for a container image manifest, 'index' for an image index, null for artifacts (signatures, SBOMs, …). */
export function scannableKind(mediaType: string, artifactType: string | null | undefined): 'image' | 'index' | null {
  if (mediaType === DOCKER_MANIFEST) return 'image';
  if (mediaType === OCI_MANIFEST) return !artifactType || IMAGE_CONFIGS.has(artifactType) ? 'image' : null;
  if (isIndexMediaType(mediaType)) return artifactType ? null : 'index';
  return null;
}
