// What a registry:2 (CNCF distribution) storage root holds, read from its file names alone:
//
//   docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data                       the bytes of blobs and manifests
//   docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link          blobs the repository may read
//   …/<name>/_manifests/revisions/sha256/<hex>/link                          the repository's manifests
//   …/<name>/_manifests/tags/<tag>/current/link                               what the tag points at (read it)
//   …/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link                    every digest the tag pointed at
//   …/<name>/_uploads/<id>/…                                                   unfinished uploads
//
// Pure: the listing is fed in one object at a time, and the model is what the importer works from.
import { isDigest } from '../oci/digest.js';
import type { SourceObject } from './source.js';

export const V2_ROOT = 'docker/registry/v2/';
export const BLOBS_PREFIX = `${V2_ROOT}blobs/`;
export const REPOSITORIES_PREFIX = `${V2_ROOT}repositories/`;

export interface SourceTag {
  /** Key of current/link (its content is the digest); null when the tag has only index links. */
  currentKey: string | null;
  /** The index links: every digest the tag pointed at, with when it was last pointed there. */
  index: { digest: string; modified: number }[];
}

export interface SourceRepository {
  name: string;
  /** _layers links (digests). */
  layers: Set<string>;
  /** _manifests/revisions links (digests). */
  manifests: Set<string>;
  tags: Map<string, SourceTag>;
  /** Upload session ids under _uploads/. */
  uploads: Set<string>;
}

export interface SourceModel {
  /** digest → size of its data file. */
  blobs: Map<string, number>;
  repositories: Map<string, SourceRepository>;
  /** Files under docker/registry/v2/ the importer does not understand (reported, never an error). */
  unknown: number;
}

export function blobDataKey(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${BLOBS_PREFIX}${algorithm}/${hex.slice(0, 2)}/${hex}/data`;
}

const BLOB_RE = /^docker\/registry\/v2\/blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)\/data$/;
const REPO_RE = /^docker\/registry\/v2\/repositories\/(.+?)\/(_layers|_manifests|_uploads)\/(.+)$/;
const LINK_RE = /^(sha256|sha512)\/([0-9a-f]+)\/link$/;
const TAG_RE = /^tags\/([^/]+)\/(?:current\/link|index\/(sha256|sha512)\/([0-9a-f]+)\/link)$/;

export function emptyModel(): SourceModel {
  return { blobs: new Map(), repositories: new Map(), unknown: 0 };
}

/** Adds one listed file to the model. */
export function addObject(model: SourceModel, o: SourceObject): void {
  const blob = BLOB_RE.exec(o.key);
  if (blob) {
    const digest = `${blob[1]}:${blob[2]}`;
    if (isDigest(digest)) model.blobs.set(digest, o.size);
    else model.unknown++;
    return;
  }
  const m = REPO_RE.exec(o.key);
  if (!m) {
    model.unknown++;
    return;
  }
  const [, name, kind, rest] = m;
  let repo = model.repositories.get(name);
  if (!repo) {
    repo = { name, layers: new Set(), manifests: new Set(), tags: new Map(), uploads: new Set() };
    model.repositories.set(name, repo);
  }
  if (kind === '_uploads') {
    repo.uploads.add(rest.split('/')[0]);
    return;
  }
  if (kind === '_layers') {
    const link = linkDigest(rest);
    if (link) repo.layers.add(link);
    else model.unknown++;
    return;
  }
  if (rest.startsWith('revisions/')) {
    const link = linkDigest(rest.slice('revisions/'.length));
    if (link) repo.manifests.add(link);
    else model.unknown++;
    return;
  }
  const t = TAG_RE.exec(rest);
  if (!t) {
    model.unknown++;
    return;
  }
  let tag = repo.tags.get(t[1]);
  if (!tag) {
    tag = { currentKey: null, index: [] };
    repo.tags.set(t[1], tag);
  }
  if (t[2]) {
    const digest = `${t[2]}:${t[3]}`;
    if (isDigest(digest)) tag.index.push({ digest, modified: o.modified });
  } else tag.currentKey = o.key;
}

function linkDigest(rest: string): string | null {
  const l = LINK_RE.exec(rest);
  if (!l) return null;
  const digest = `${l[1]}:${l[2]}`;
  return isDigest(digest) ? digest : null;
}

/** A link file's content ("sha256:…"), or null when it is not a digest. */
export function parseLink(body: Buffer): string | null {
  const text = body.toString('utf8').trim();
  return isDigest(text) ? text : null;
}

/**
 * The digests a tag pointed at, oldest first, ending with `current`: the index links ordered by when
 * each was last written (distribution rewrites a link when the tag moves back to that digest).
 */
export function tagSequence(tag: SourceTag, current: string): string[] {
  const earlier = [...tag.index]
    .filter((e) => e.digest !== current)
    .sort((a, b) => a.modified - b.modified || a.digest.localeCompare(b.digest))
    .map((e) => e.digest);
  return [...earlier, current];
}
