// The shared backing services of the S3 and PostgreSQL rows: the project's Ceph RGW
// (scripts/start-ceph-rgw.sh ensure, or S3_* in the environment) and PostgreSQL (scripts/start-postgres.sh,
// or BERTH_TEST_PG_URL), with a fresh schema or S3 prefix per server so runs never see each other's data.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { repoRoot } from './config.js';

export interface Rgw {
  S3_ENDPOINT: string;
  S3_REGION: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_BUCKET: string;
}

/** KEY=value lines a script prints, as an object. */
export function scriptEnv(script: string, args: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const text = execFileSync('bash', [path.join(repoRoot, 'scripts', script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 << 20,
  });
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

let rgwCache: Rgw | undefined;

/** The gateway: S3_ENDPOINT etc. from the environment when set, else the project's script (starts or reuses it). */
export function cephRgw(): Rgw {
  if (rgwCache) return rgwCache;
  const e = process.env.S3_ENDPOINT ? (process.env as Record<string, string>) : scriptEnv('start-ceph-rgw.sh', ['ensure']);
  for (const k of ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET']) if (!e[k]) throw new Error(`no ${k} for the Ceph RGW`);
  rgwCache = {
    S3_ENDPOINT: e.S3_ENDPOINT,
    S3_REGION: e.S3_REGION || 'us-east-1',
    S3_ACCESS_KEY: e.S3_ACCESS_KEY,
    S3_SECRET_KEY: e.S3_SECRET_KEY,
    S3_BUCKET: e.S3_BUCKET,
  };
  return rgwCache;
}

let pgCache: string | undefined;

/** The PostgreSQL URL: BERTH_TEST_PG_URL, else scripts/start-postgres.sh (starts it when needed). */
export function postgresUrl(): string {
  pgCache ??=
    process.env.BERTH_TEST_PG_URL ||
    execFileSync('bash', [path.join(repoRoot, 'scripts/start-postgres.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      .trim()
      .split('\n')
      .pop()!;
  return pgCache;
}

async function pgQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: postgresUrl() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export interface Schema {
  name: string;
  /** The URL with search_path set to the schema. */
  url: string;
}

/** A fresh schema (`<prefix>_<random>`) and the URL that uses it. */
export async function freshSchema(prefix = 'bench'): Promise<Schema> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await pgQuery(`create schema ${name}`);
  const u = new URL(postgresUrl());
  u.searchParams.set('options', `-c search_path=${name}`);
  return { name, url: u.href };
}

export async function dropSchema(s: Schema): Promise<void> {
  await pgQuery(`drop schema if exists ${s.name} cascade`);
}

/** Berth's environment for metadata in `schema`. */
export const berthPostgresEnv = (schema: Schema): Record<string, string> => ({
  REGISTRY_METADATA: 'postgres',
  REGISTRY_METADATA_POSTGRES_URL: schema.url,
});

/** Berth's environment for blobs under `prefix` of the gateway's bucket; redirects off (bytes go through Berth). */
export function berthS3Env(rgw: Rgw, prefix: string): Record<string, string> {
  return {
    REGISTRY_STORAGE: 's3',
    REGISTRY_STORAGE_S3_BUCKET: rgw.S3_BUCKET,
    REGISTRY_STORAGE_S3_REGION: rgw.S3_REGION,
    REGISTRY_STORAGE_S3_REGIONENDPOINT: rgw.S3_ENDPOINT,
    REGISTRY_STORAGE_S3_ACCESSKEY: rgw.S3_ACCESS_KEY,
    REGISTRY_STORAGE_S3_SECRETKEY: rgw.S3_SECRET_KEY,
    REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
    REGISTRY_STORAGE_S3_ROOTDIRECTORY: prefix,
    REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
  };
}

/** The reference's `storage:` lines for the same gateway under `prefix`, redirects off. */
export function referenceS3Storage(rgw: Rgw, prefix: string): string[] {
  return [
    '  s3:',
    `    bucket: ${rgw.S3_BUCKET}`,
    `    region: ${rgw.S3_REGION}`,
    `    regionendpoint: ${rgw.S3_ENDPOINT}`,
    `    accesskey: ${rgw.S3_ACCESS_KEY}`,
    `    secretkey: ${rgw.S3_SECRET_KEY}`,
    `    rootdirectory: /${prefix}`,
    `    secure: ${rgw.S3_ENDPOINT.startsWith('https:')}`,
    '    v4auth: true',
    '  redirect:',
    '    disable: true',
  ];
}

/** Deletes every object under `prefix/` (what a run left in the shared bucket). */
export async function clearS3Prefix(rgw: Rgw, prefix: string): Promise<number> {
  const s3 = new S3Client({
    endpoint: rgw.S3_ENDPOINT,
    region: rgw.S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.S3_ACCESS_KEY, secretAccessKey: rgw.S3_SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let deleted = 0;
  try {
    for (;;) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: rgw.S3_BUCKET, Prefix: `${prefix}/`, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length === 0) return deleted;
      await s3.send(new DeleteObjectsCommand({ Bucket: rgw.S3_BUCKET, Delete: { Objects: keys, Quiet: true } }));
      deleted += keys.length;
    }
  } finally {
    s3.destroy();
  }
}

/** A prefix for one server's objects in the shared bucket. */
export const s3Prefix = (name: string) => `bench-${name}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
