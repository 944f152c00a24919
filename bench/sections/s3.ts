// Blobs through S3: Berth on the Ceph RGW with PostgreSQL metadata, the reference on the same gateway,
// redirects off on both (every byte goes through the registry). Per round and server, alternating which
// goes first: one push of new bytes (Node client), then two pulls with curl.
import path from 'node:path';
import { berthPostgresEnv, berthS3Env, cephRgw, clearS3Prefix, dropSchema, freshSchema, referenceS3Storage, type Schema, s3Prefix } from '../lib/backends.js';
import { config } from '../lib/config.js';
import { checkBlob, curlPull, pushMonolithic } from '../lib/http.js';
import type { Results } from '../lib/results.js';
import { memory, type Server, startServer, stopServer } from '../lib/servers.js';
import { makeBlobSource, nextBlob, timed } from './blob.js';

export async function s3Section(workDir: string, res: Results): Promise<void> {
  const rgw = cephRgw();
  const prefixes = { berth: s3Prefix('berth'), reference: s3Prefix('reference') };
  let schema: Schema | undefined;
  const servers: Server[] = [];
  try {
    schema = await freshSchema('bench_s3');
    const dir = path.join(workDir, 's3');
    servers.push(
      await startServer('berth', config.selftest ? 'reference' : 'berth', dir, {
        variant: 's3',
        env: { ...berthS3Env(rgw, prefixes.berth), ...berthPostgresEnv(schema) },
        referenceStorage: referenceS3Storage(rgw, prefixes.berth),
      }),
      await startServer('reference', 'reference', dir, { variant: 's3', referenceStorage: referenceS3Storage(rgw, prefixes.reference) }),
    );
    const src = makeBlobSource(dir, config.s3MiB);
    const mb = src.blob.length / 1e6;
    console.log(`-- s3: ${config.passes} rounds of push + 2 pulls of ${config.s3MiB} MiB through ${rgw.S3_ENDPOINT}`);
    for (let round = 0; round < config.passes; round++) {
      for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
        await res.guard(s, 's3', async () => {
          const repo = `bench/s3-${round}`;
          const digest = nextBlob(src);
          const push = mb / (await timed(() => pushMonolithic(s.base, repo, src.blob, digest)));
          await checkBlob(s.base, repo, digest, src.blob.length);
          const pulls: number[] = [];
          for (let i = 0; i < 2; i++) {
            const r = await curlPull(s.base, repo, digest);
            if (r.bytes !== src.blob.length) throw new Error(`pull returned ${r.bytes} bytes, expected ${src.blob.length}`);
            pulls.push(mb / r.seconds);
          }
          res.add(s, 's3_push', push);
          for (const p of pulls) res.add(s, 's3_pull', p);
          console.log(`-- s3 round ${round + 1} ${s.column}: push ${Math.round(push)} MB/s, pulls ${pulls.map(Math.round).join(' / ')} MB/s`);
        });
      }
    }
    for (const s of servers) res.set(s, 's3_hwm', memory(s).hwmMiB);
    res.note(
      `S3 rows: Berth (S3 driver + PostgreSQL metadata, fresh schema) and the reference (its s3 driver), each under its own prefix of bucket ${rgw.S3_BUCKET} ` +
        `on ${rgw.S3_ENDPOINT}, redirects off on both; ${config.passes} rounds, each one push of new bytes (Node client, POST + PUT) and two curl pulls.`,
    );
  } finally {
    await Promise.all(servers.map(stopServer));
    if (schema) await dropSchema(schema).catch(() => {});
    for (const p of Object.values(prefixes)) await clearS3Prefix(rgw, p).catch((e) => console.error(`!! could not clear s3 prefix ${p}: ${e}`));
  }
}
