// The Ceph RGW the S3 tests run against: started (or reused) by scripts/start-ceph-rgw.sh.
// There is no skip: when the gateway cannot be started the test file fails with the script's log.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defaultConfig, type BerthConfig, type DeepPartial, type S3Config } from '../../src/config/index.js';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RgwEnv {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
}

let started: Promise<RgwEnv> | undefined;

/** Ensures the project's Ceph RGW is up (start takes ~15 s, reuse ~0.1 s) and returns its settings. */
export function rgw(): Promise<RgwEnv> {
  started ??= (async () => {
    let stdout: string;
    try {
      ({ stdout } = await run('bash', [path.join(ROOT, 'scripts/start-ceph-rgw.sh'), 'ensure'], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`could not start Ceph RGW with scripts/start-ceph-rgw.sh: ${e.message}\n${e.stderr ?? ''}\n${e.stdout ?? ''}`);
    }
    const env = Object.fromEntries(
      stdout.split('\n').flatMap((l) => {
        const m = /^([A-Z0-9_]+)=(.*)$/.exec(l.trim());
        return m ? [[m[1], m[2]]] : [];
      }),
    );
    for (const k of ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY', 'S3_BUCKET']) {
      if (!env[k]) throw new Error(`scripts/start-ceph-rgw.sh printed no ${k}:\n${stdout}`);
    }
    return {
      endpoint: env.S3_ENDPOINT,
      region: env.S3_REGION ?? 'us-east-1',
      accessKey: env.S3_ACCESS_KEY,
      secretKey: env.S3_SECRET_KEY,
      bucket: env.S3_BUCKET,
    };
  })();
  return started;
}

/** `storage.s3` for the test gateway, under a fresh root directory of the shared bucket. */
export async function s3Config(over: Partial<S3Config> = {}): Promise<S3Config> {
  const e = await rgw();
  return defaultConfig({ storage: { s3: s3Section(e, over) } } as DeepPartial<BerthConfig>).storage.s3!;
}

/** The `storage` overrides that put a test server on the gateway (fresh root directory). */
export async function s3StorageOverrides(over: Partial<S3Config> = {}, redirect = false): Promise<DeepPartial<BerthConfig>['storage']> {
  const e = await rgw();
  return { s3: s3Section(e, over), redirect: { disable: !redirect } } as DeepPartial<BerthConfig>['storage'];
}

function s3Section(e: RgwEnv, over: Partial<S3Config>): Record<string, unknown> {
  return {
    bucket: e.bucket,
    region: e.region,
    regionendpoint: e.endpoint,
    accesskey: e.accessKey,
    secretkey: e.secretKey,
    forcepathstyle: true,
    rootdirectory: `test-${randomBytes(6).toString('hex')}`,
    ...over,
  };
}
