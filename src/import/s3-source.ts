// A registry:2 storage root in an S3 bucket (registry:2's s3 driver: `bucket` and `rootdirectory`),
// read with ListObjectsV2 and GetObject. Credentials come from the standard AWS_* environment (or
// the SDK's other default sources); the endpoint and region from the command line or AWS_* too.
import { isS3NotFound } from '../storage/s3.js';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { ImportSource, SourceObject } from './source.js';

export interface S3SourceOptions {
  /** s3://bucket/prefix */
  url: string;
  endpoint?: string;
  region?: string;
  /** Path-style addressing (RGW, MinIO); default: on when an endpoint is given. */
  pathStyle?: boolean;
  skipVerify?: boolean;
}

export function isS3Url(s: string): boolean {
  return /^s3:\/\//i.test(s);
}

export class S3Source implements ImportSource {
  readonly description: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;

  constructor(opts: S3SourceOptions) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(opts.url);
    if (!m) throw new Error(`${opts.url}: expected s3://bucket/prefix`);
    this.bucket = m[1];
    const prefix = m[2].replace(/^\/+|\/+$/g, '');
    this.root = prefix ? `${prefix}/` : '';
    const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    this.description = `s3://${this.bucket}/${this.root}${endpoint ? ` at ${new URL(endpoint).origin}` : ''}`;
    const agent = { keepAlive: true, maxSockets: 64 };
    this.client = new S3Client({
      region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      endpoint,
      forcePathStyle: opts.pathStyle ?? endpoint !== undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      requestHandler: { httpAgent: new http.Agent(agent), httpsAgent: new https.Agent({ ...agent, rejectUnauthorized: !opts.skipVerify }) },
    });
  }

  async *list(prefix: string): AsyncIterable<SourceObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(this.root.length), size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async read(key: string): Promise<Readable | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.root + key }));
      return res.Body as Readable;
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  async readSmall(key: string): Promise<Buffer | null> {
    const body = await this.read(key);
    if (!body) return null;
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** Checks that the bucket and prefix hold a registry:2 root. */
  async check(): Promise<void> {
    const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${this.root}docker/registry/v2/`, MaxKeys: 1 }));
    if (!page.Contents?.length) throw new Error(`${this.description} is not a registry:2 storage root: nothing under docker/registry/v2/`);
  }

  close(): void {
    this.client.destroy();
  }
}
