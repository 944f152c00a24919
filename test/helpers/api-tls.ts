// TLS helpers for the API tests: a throwaway self-signed certificate and HTTPS requests.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { readRaw, type RawResponse } from './api-server.js';

export interface SelfSigned {
  certificate: string;
  key: string;
  /** PEM of the certificate, to trust it as a CA. */
  pem: Buffer;
}

/** A self-signed certificate for 127.0.0.1 and localhost, written into `dir`. */
export function selfSignedCert(dir: string): SelfSigned {
  const certificate = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      certificate,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'pipe' },
  );
  return { certificate, key, pem: readFileSync(certificate) };
}

/**
 * An HTTPS request. With `ca` the server certificate is verified against it; without,
 * verification is off (rejectUnauthorized: false).
 */
export function httpsRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string; ca?: Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
      },
      (res) => readRaw(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}
