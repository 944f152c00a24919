// Namespace usage for quotas (docs/quotas.md): what reading the maintained usage, the quota
// check of a manifest PUT and keeping the usage cost in a large namespace, against computing
// the usage from the manifests each time. Fills one namespace straight through the store.
//   node --import tsx bench/quota-usage.ts            (SQLite in a temp dir)
//   BENCH_PG_URL=postgres://… node --import tsx bench/quota-usage.ts
// BENCH_QUOTA_MANIFESTS (default 20000), BENCH_QUOTA_LAYERS per manifest (default 8),
// BENCH_QUOTA_POOL shared layers to draw from (default 5000).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqlite, type MetadataDb } from '../src/metadata/database.js';
import { openPostgres } from '../src/metadata/postgres.js';
import { RegistryStore } from '../src/metadata/registry-store.js';
import { QuotaService } from '../src/registry/quotas.js';

const MANIFESTS = Number(process.env.BENCH_QUOTA_MANIFESTS ?? 20_000);
const LAYERS = Number(process.env.BENCH_QUOTA_LAYERS ?? 8);
const POOL = Number(process.env.BENCH_QUOTA_POOL ?? 5000);
const REPOS = 50;

const digest = () => `sha256:${createHash('sha256').update(randomBytes(16)).digest('hex')}`;

async function time<T>(n: number, fn: () => Promise<T>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function main(): Promise<void> {
  const meta: MetadataDb = process.env.BENCH_PG_URL
    ? await openPostgres(process.env.BENCH_PG_URL, 4)
    : await openSqlite(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-quota-bench-')), 'berth.db'));
  const store = new RegistryStore(meta);
  const quotas = new QuotaService(store.quotas, { default: 0, warning: 80 });
  const now = Date.now();
  const ns = `bench${randomBytes(3).toString('hex')}`;

  const pool = Array.from({ length: POOL }, () => ({ digest: digest(), size: 1_000_000 + Math.floor(Math.random() * 1e6) }));
  const repoIds: number[] = [];
  await meta.transaction(async (tx) => {
    for (let r = 0; r < REPOS; r++) repoIds.push(await store.ensureRepository(tx, `${ns}/r${r}`, now));
    // No repository links: putManifest trusts its caller to have checked them.
    for (const b of pool) await store.recordBlob(tx, b.digest, b.size, now);
  });

  const newManifest = () => {
    const layers = Array.from({ length: LAYERS }, () => pool[Math.floor(Math.random() * POOL)].digest);
    return { config: digest(), body: digest(), layers };
  };
  const insert = async (repoId: number, m: ReturnType<typeof newManifest>) =>
    meta.transaction(async (tx) => {
      await store.recordBlob(tx, m.config, 1500, now);
      await store.recordBlob(tx, m.body, 1200, now);
      await store.putManifest(
        tx,
        repoId,
        { digest: m.body, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1200, blobDigests: [m.config, ...m.layers], childDigests: [] },
        now,
      );
    });

  const t0 = Date.now();
  for (let i = 0; i < MANIFESTS; i++) await insert(repoIds[i % REPOS], newManifest());
  const fillMs = Date.now() - t0;

  const used = await store.quotas.usage(ns);
  const computed = await store.quotas.computeUsage(ns);
  if (computed.bytes !== used) throw new Error(`maintained ${used} != computed ${computed.bytes}`);

  const readMs = await time(2000, () => store.quotas.usage(ns));
  const computeMs = await time(5, () => store.quotas.computeUsage(ns));
  const admitMs = await time(500, () =>
    meta.transaction(async (tx) => {
      const m = newManifest();
      await quotas.admitManifest(tx, `${ns}/r0`, { digest: m.body, size: 1200, blobDigests: [m.config, ...m.layers] }, { actor: null }, now);
    }),
  );
  // The same insert with and without keeping the usage (the store's method stubbed), in alternating rounds.
  const keep = store.quotas.addReferences.bind(store.quotas);
  let putMs = 0;
  let bareMs = 0;
  for (let round = 0; round < 6; round++) {
    store.quotas.addReferences = keep;
    putMs += (await time(100, () => insert(repoIds[0], newManifest()))) / 6;
    store.quotas.addReferences = async () => 0;
    bareMs += (await time(100, () => insert(repoIds[1], newManifest()))) / 6;
  }
  store.quotas.addReferences = keep;

  console.log(`quota usage bench (${meta.dialect}): one namespace, ${MANIFESTS} manifests × ${LAYERS} layers from ${POOL} shared, ${computed.digests} digests`);
  console.log(`  fill: ${fillMs} ms (${(fillMs / MANIFESTS).toFixed(2)} ms per manifest transaction, usage kept)`);
  console.log(`  usage read (maintained row):           ${readMs.toFixed(3)} ms`);
  console.log(`  usage computed from the manifests:     ${computeMs.toFixed(1)} ms`);
  console.log(`  quota check of a new manifest (admit): ${admitMs.toFixed(3)} ms`);
  console.log(`  manifest insert transaction:           ${putMs.toFixed(3)} ms with the usage kept, ${bareMs.toFixed(3)} ms without`);
  await meta.close();
}

await main();
