// `berth scrub` speed: objects checked per second, shallow (stat / S3 HEAD) and --deep (read and
// hash), on a store filled with small blobs (rows written straight into a fresh SQLite database).
//   node --import tsx bench/scrub.ts                   filesystem, 20,000 objects
//   BENCH_SCRUB_S3=1 node --import tsx bench/scrub.ts  Ceph RGW (scripts/start-ceph-rgw.sh env), 5,000 objects
// BENCH_SCRUB_OBJECTS, BENCH_SCRUB_SIZE (bytes per blob, default 4096), BENCH_SCRUB_CONCURRENCY (default 32).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStorage } from '../src/app.js';
import { defaultConfig, type BerthConfig, type DeepPartial } from '../src/config/index.js';
import { scrub } from '../src/gc/scrub.js';
import { openSqlite } from '../src/metadata/database.js';
import { parseDigest } from '../src/oci/digest.js';
import { blobKey } from '../src/storage/layout.js';

const s3 = process.env.BENCH_SCRUB_S3 === '1';
const objects = Number(process.env.BENCH_SCRUB_OBJECTS ?? (s3 ? 5000 : 20000));
const size = Number(process.env.BENCH_SCRUB_SIZE ?? 4096);
const concurrency = Number(process.env.BENCH_SCRUB_CONCURRENCY ?? 32);

function s3Section(): Record<string, unknown> {
  const script = fileURLToPath(new URL('../scripts/start-ceph-rgw.sh', import.meta.url));
  const env: Record<string, string> = {};
  for (const line of execFileSync('bash', [script, 'env'], { encoding: 'utf8' }).split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return {
    bucket: env.S3_BUCKET,
    region: env.S3_REGION ?? 'us-east-1',
    regionendpoint: env.S3_ENDPOINT,
    accesskey: env.S3_ACCESS_KEY,
    secretkey: env.S3_SECRET_KEY,
    forcepathstyle: true,
    rootdirectory: `bench-scrub-${randomBytes(6).toString('hex')}`,
  };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-scrub-'));
const config: BerthConfig = defaultConfig({ storage: { filesystem: { rootdirectory: dir }, ...(s3 ? { s3: s3Section() } : {}) } } as DeepPartial<BerthConfig>);
const storage = await createStorage(config);
const meta = await openSqlite(path.join(dir, 'berth.db'));
try {
  const t0 = performance.now();
  const digests: string[] = [];
  for (let i = 0; i < objects; i += 200) {
    const batch = Array.from({ length: Math.min(200, objects - i) }, () => randomBytes(size));
    const rows = await Promise.all(
      batch.map(async (b) => {
        const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`;
        await storage.put(blobKey(parseDigest(digest)), b);
        return { digest, size: b.length, created_at: Date.now() };
      }),
    );
    await meta.transaction((tx) => tx.insertInto('blobs').values(rows).execute());
    digests.push(...rows.map((r) => r.digest));
  }
  process.stderr.write(`filled ${objects} objects of ${size} B on ${storage.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  // One in a thousand lost, so the report path is exercised too.
  for (let i = 0; i < objects; i += 1000) await storage.delete(blobKey(parseDigest(digests[i])));
  for (const deep of [false, true]) {
    const r = await scrub(storage, meta, { deep, concurrency });
    const rate = Math.round(r.objects / (r.ms / 1000));
    console.log(
      `${storage.name} ${deep ? 'deep   ' : 'shallow'}: ${r.objects} objects in ${(r.ms / 1000).toFixed(2)} s = ${rate} objects/s (concurrency ${concurrency}), ${r.missing.count} missing`,
    );
  }
} finally {
  await meta.close();
  if (s3) for await (const o of storage.list('')) await storage.delete(o.key);
  fs.rmSync(dir, { recursive: true, force: true });
}
