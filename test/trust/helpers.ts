// Helpers of the trust tests: key pairs, and cosign legacy signatures (the `sha256-<hex>.sig` tag
// over a simple-signing payload) pushed over /v2 as cosign writes them, to an open server or
// through a token client.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { MT, digestOf, pushBlob, pushManifest } from '../helpers/api-server.js';
import type { TokenClient } from '../helpers/token-client.js';

export interface KeyPair {
  privateKey: KeyObject;
  publicPem: string;
}

export function ecKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** How a test pushes: to an open server, or with a token client. */
export interface Pusher {
  host: string;
  blob(repo: string, bytes: Buffer): Promise<{ digest: string; size: number }>;
  /** PUTs the manifest under `ref`; returns its digest. */
  manifest(repo: string, ref: string, doc: object | Buffer): Promise<string>;
}

export function openPusher(base: string): Pusher {
  return {
    host: new URL(base).host,
    blob: (repo, bytes) => pushBlob(base, repo, bytes),
    manifest: async (repo, ref, doc) => (await pushManifest(base, repo, doc, { ref })).digest,
  };
}

export function tokenPusher(c: TokenClient): Pusher {
  return {
    host: new URL(c.base).host,
    blob: (repo, bytes) => c.pushBlob(repo, bytes),
    manifest: async (repo, ref, doc) => {
      const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc));
      const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
      assert.equal(res.status, 201, `PUT ${repo}:${ref}: ${await res.text()}`);
      return digestOf(bytes);
    },
  };
}

/** cosign's simple-signing payload for an image. */
export function simpleSigningPayload(reference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: null,
    }),
  );
}

export interface LegacyOptions {
  /** Sign this digest's payload instead of the subject's (a signature of another image). */
  payloadDigest?: string;
  /** Change the payload after signing. */
  tamper?: boolean;
}

/** Pushes a cosign legacy signature of `subject` in `repo` under `sha256-<hex>.sig`; returns the signature manifest's digest. */
export async function pushCosignLegacy(to: Pusher | string, repo: string, subject: string, key: KeyObject, opts: LegacyOptions = {}): Promise<string> {
  const p = typeof to === 'string' ? openPusher(to) : to;
  let payload = simpleSigningPayload(`${p.host}/${repo}`, opts.payloadDigest ?? subject);
  const signature = sign('sha256', payload, key).toString('base64');
  if (opts.tamper) payload = Buffer.from(payload.toString('utf8').replace('cosign container image signature', 'cosign container image signaturE'));
  const layer = await p.blob(repo, payload);
  const config = await p.blob(
    repo,
    Buffer.from(
      JSON.stringify({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        config: {},
      }),
    ),
  );
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, size: config.size, digest: config.digest },
    layers: [
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        size: layer.size,
        digest: layer.digest,
        annotations: { 'dev.cosignproject.cosign/signature': signature },
      },
    ],
  };
  return p.manifest(repo, `sha256-${subject.slice('sha256:'.length)}.sig`, doc);
}

/** Pushes what a signing client pushes for one signature (test/helpers/signatures.ts): blobs, then the manifest under its tag or digest. */
export async function pushSignature(
  to: Pusher | string,
  repo: string,
  a: { tag?: string; manifest: Buffer; digest: string; blobs: { bytes: Buffer }[] },
): Promise<string> {
  const p = typeof to === 'string' ? openPusher(to) : to;
  for (const b of a.blobs) await p.blob(repo, b.bytes);
  return p.manifest(repo, a.tag ?? a.digest, a.manifest);
}
