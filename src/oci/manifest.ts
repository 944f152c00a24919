// Parsing and validation of image manifests and indexes (OCI and Docker schema 2). Pure: no I/O.
import { isDigest } from './digest.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_SCHEMA1,
  DOCKER_SCHEMA1_SIGNED,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPE_RE,
  OCI_INDEX,
  OCI_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
} from './media-types.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Record<string, unknown>;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** Blobs the manifest needs (config and layers), minus non-distributable layers stored elsewhere. */
  blobs: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** The artifact type that the referrers API reports for this manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export class ManifestInvalidError extends Error {}
export class ManifestUnsupportedError extends Error {}

// Docker's foreign layers (Windows base images) live on other servers and are never pushed.
const FOREIGN_LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** Strips parameters ("; charset=utf-8") and lower-cases a Content-Type header. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Parses manifest bytes. `contentType` is the request's Content-Type; when the
 * document carries a mediaType too, the two must agree.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  const header = baseMediaType(contentType);
  if (header === DOCKER_SCHEMA1 || header === DOCKER_SCHEMA1_SIGNED) throw new ManifestUnsupportedError('Docker schema 1 manifests are not supported');
  // Real clients send the manifest's own media type (parameters such as "; charset=utf-8" are
  // ignored). Anything else (text/plain, application/json, …) is not a manifest this registry
  // takes; a missing header leaves the document to say what it is (below).
  if (header !== '' && !isManifestMediaType(header)) {
    throw new ManifestUnsupportedError(`Content-Type "${header.slice(0, 100)}" is not a manifest media type (${MANIFEST_MEDIA_TYPES.join(', ')})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new ManifestInvalidError('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw new ManifestInvalidError('manifest must be a JSON object');

  const field = doc.mediaType;
  if (field !== undefined && typeof field !== 'string') throw new ManifestInvalidError('mediaType must be a string');
  if (doc.schemaVersion === 1) {
    throw new ManifestUnsupportedError('Docker schema 1 manifests are not supported');
  }
  if (doc.schemaVersion !== 2) throw new ManifestInvalidError('schemaVersion must be 2');

  const mediaType = resolveMediaType(header, field, doc);
  const kind = isIndexMediaType(mediaType) ? 'index' : 'image';
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, 'subject');
  const annotations = stringMap(doc.annotations, 'annotations');
  const artifactType = optionalMediaType(doc.artifactType, 'artifactType');

  if (kind === 'index') {
    if (!Array.isArray(doc.manifests)) throw new ManifestInvalidError('manifests must be an array');
    const manifests = doc.manifests.map((d, i) => descriptor(d, `manifests[${i}]`));
    return { mediaType, kind, blobs: [], manifests, subject, artifactType, annotations };
  }

  const config = descriptor(doc.config, 'config');
  if (doc.layers !== undefined && !Array.isArray(doc.layers)) throw new ManifestInvalidError('layers must be an array');
  if (mediaType === DOCKER_MANIFEST && doc.layers === undefined) throw new ManifestInvalidError('layers must be an array');
  const layers = ((doc.layers as unknown[] | undefined) ?? []).map((d, i) => descriptor(d, `layers[${i}]`));
  const blobs = [config, ...layers.filter((l) => !FOREIGN_LAYER_TYPES.has(l.mediaType))];
  // OCI 1.1: without an explicit artifactType, the config's media type names the artifact.
  const effectiveArtifactType = artifactType ?? (mediaType === OCI_MANIFEST ? config.mediaType : undefined);
  return { mediaType, kind, blobs, manifests: [], subject, artifactType: effectiveArtifactType, annotations };
}

function resolveMediaType(header: string, field: unknown, doc: Record<string, unknown>): string {
  if (typeof field === 'string' && field !== '') {
    if (!isManifestMediaType(field)) throw new ManifestInvalidError(`unsupported manifest mediaType "${field.slice(0, 100)}"`);
    if (header !== '' && header !== field) {
      throw new ManifestInvalidError(`Content-Type "${header}" does not match the manifest's mediaType "${field}"`);
    }
    return field;
  }
  if (header !== '') {
    // Docker schema 2 documents always carry their mediaType; OCI ones may omit it.
    if (header === DOCKER_MANIFEST || header === DOCKER_MANIFEST_LIST) {
      throw new ManifestInvalidError('Docker schema 2 manifests must carry a mediaType');
    }
    return header;
  }
  // Neither a Content-Type nor a mediaType: recognise an OCI document by its shape, unless the
  // shape is ambiguous (both "manifests" and "config"/"layers": CVE-2021-41190).
  const index = doc.manifests !== undefined;
  const image = doc.config !== undefined || doc.layers !== undefined;
  if (index && !image) return OCI_INDEX;
  if (image && !index) return OCI_MANIFEST;
  throw new ManifestInvalidError('cannot tell the manifest media type: send it as Content-Type');
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new ManifestInvalidError(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_RE.test(mediaType)) {
    throw new ManifestInvalidError(`${where}.mediaType is missing or invalid`);
  }
  if (typeof digest !== 'string' || !isDigest(digest)) throw new ManifestInvalidError(`${where}.digest is invalid`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestInvalidError(`${where}.size must be a non-negative integer`);
  }
  const out: Descriptor = { mediaType, digest, size };
  const artifactType = optionalMediaType(value.artifactType, `${where}.artifactType`);
  if (artifactType) out.artifactType = artifactType;
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  if (annotations) out.annotations = annotations;
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) {
      throw new ManifestInvalidError(`${where}.urls must be an array of strings`);
    }
    out.urls = value.urls as string[];
  }
  if (isObject(value.platform)) out.platform = value.platform;
  return out;
}

function optionalMediaType(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !MEDIA_TYPE_RE.test(value)) throw new ManifestInvalidError(`${where} is invalid`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new ManifestInvalidError(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
