// Tag-move visibility across two replicas: two Berth processes on one PostgreSQL schema and one storage
// directory; two reference processes on one storage directory. A tag is moved on replica 1 (PUT manifest,
// 201), then replica 2 is asked for the tag, request after request, until it serves the new manifest; the
// time from the 201 to that answer is the figure. Moves alternate between two images.
import path from 'node:path';
import { berthPostgresEnv, dropSchema, freshSchema, type Schema } from '../lib/backends.js';
import { config } from '../lib/config.js';
import { MANIFEST_ACCEPT, makeImage, OCI_MANIFEST, pushImage, putManifest, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { type Server, startServer, stopServer } from '../lib/servers.js';

const DEADLINE_MS = 30_000;
const REPO = 'bench/moves';

async function served(s: Server): Promise<string> {
  const r = await fetch(`${s.base}/v2/${REPO}/manifests/t`, { headers: { Accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await r.arrayBuffer());
  return r.status === 200 ? sha256(body) : `HTTP ${r.status}`;
}

/** Milliseconds from the move's 201 on `a` until `b` serves `want` for the tag. */
async function move(a: Server, b: Server, manifest: Buffer): Promise<number> {
  const want = sha256(manifest);
  await putManifest(a.base, REPO, 't', manifest, OCI_MANIFEST);
  const t0 = performance.now();
  for (;;) {
    const got = await served(b);
    const ms = performance.now() - t0;
    if (got === want) return ms;
    if (ms > DEADLINE_MS) throw new Error(`replica 2 still served ${got} ${DEADLINE_MS / 1000} s after the tag moved to ${want}`);
  }
}

export async function replicasSection(workDir: string, res: Results): Promise<void> {
  let schema: Schema | undefined;
  const pairs: Server[][] = [];
  try {
    schema = await freshSchema('bench_replicas');
    const dir = path.join(workDir, 'replicas');
    const berthData = path.join(dir, 'berth-data');
    const refData = path.join(dir, 'reference-data');
    const berth: Server[] = [];
    const reference: Server[] = [];
    pairs.push(berth, reference);
    for (const i of [1, 2]) {
      berth.push(
        await startServer('berth', config.selftest ? 'reference' : 'berth', dir, {
          name: `berth-${i}`,
          variant: 'replica',
          dataDir: berthData,
          env: berthPostgresEnv(schema),
        }),
      );
      reference.push(await startServer('reference', 'reference', dir, { name: `reference-${i}`, variant: 'replica', dataDir: refData }));
    }
    const images = [makeImage(), makeImage()];
    for (const [a, b] of pairs) {
      await res.guard(a, 'replicas', async () => {
        for (const img of images) await pushImage(a.base, REPO, 'x', img);
        // Both images are known to replica 2 before any move is timed (their first read is not the figure).
        for (const img of images) await putManifest(a.base, REPO, 't', img.manifest, OCI_MANIFEST);
        await move(a, b, images[1].manifest);
      });
    }
    console.log(`-- replicas: ${config.passes} rounds of ${config.tagMoves} tag moves per pair`);
    // Which image the tag names on each pair; every move goes to the other one.
    const current = new Map<Server, number>(pairs.map(([a]) => [a, 1]));
    for (let round = 0; round < config.passes; round++) {
      for (const [a, b] of round % 2 === 0 ? pairs : [...pairs].reverse()) {
        await res.guard(a, 'replicas', async () => {
          const ms: number[] = [];
          for (let i = 0; i < config.tagMoves; i++) {
            const to = 1 - current.get(a)!;
            ms.push(await move(a, b, images[to].manifest));
            current.set(a, to);
          }
          for (const v of ms) res.add(a, 'tag_move_ms', v);
          console.log(`-- replicas round ${round + 1} ${a.column}: ${ms.map((v) => v.toFixed(1)).join(' / ')} ms`);
        });
      }
    }
    res.note(
      `Tag moves: two Berth replicas (http.workers as in the main pair) on one PostgreSQL schema and one storage directory, two reference processes on one ` +
        `storage directory; ${config.tagMoves} moves per round and pair, ${config.passes} rounds; time from the 201 of PUT manifest on replica 1 until ` +
        'GET by tag on replica 2 (sequential requests, no pause) returns the new manifest. Every move is a sample.',
    );
  } finally {
    await Promise.all(pairs.flat().map(stopServer));
    if (schema) await dropSchema(schema).catch(() => {});
  }
}
