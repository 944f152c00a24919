// Helpers of the trust tests: key pairs, and cosign legacy signatures (the `sha256-<hex>.sig` tag
// over a simple-signing payload) pushed over /v2 as cosign writes them.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { MT, pushBlob, pushManifest } from '../helpers/api-server.js';

export interface KeyPair {
  privateKey: KeyObject;
  publicPem: string;
}

export function ecKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
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
export async function pushCosignLegacy(base: string, repo: string, subject: string, key: KeyObject, opts: LegacyOptions = {}): Promise<string> {
  let payload = simpleSigningPayload(`${new URL(base).host}/${repo}`, opts.payloadDigest ?? subject);
  const signature = sign('sha256', payload, key).toString('base64');
  if (opts.tamper) payload = Buffer.from(payload.toString('utf8').replace('cosign container image signature', 'cosign container image signaturE'));
  const layer = await pushBlob(base, repo, payload);
  const config = await pushBlob(
    base,
    repo,
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      config: {},
    }),
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
  const tag = `sha256-${subject.slice('sha256:'.length)}.sig`;
  return (await pushManifest(base, repo, doc, { ref: tag })).digest;
}
