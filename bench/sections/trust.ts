// What signature enforcement costs a reader: manifest GET by tag of a signed image on a Berth whose
// registry-wide trust policy is `enforce` (a cosign signature verified against a trusted key), next to
// the reference registry, which verifies nothing. Its own pair of servers, stopped afterwards.
import path from 'node:path';
import { cosignLegacySignature, makeKey } from '../../test/helpers/signatures.js';
import { config } from '../lib/config.js';
import { wrkGet } from '../lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushBlob, pushImage, putManifest } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { type Server, startServer, stopServer } from '../lib/servers.js';
import { rounds } from './load.js';

export async function trustSection(workDir: string, res: Results): Promise<void> {
  const dir = path.join(workDir, 'trust');
  const key = makeKey('ecdsa', 'bench');
  const servers: Server[] = [];
  try {
    for (const column of ['berth', 'reference'] as const) {
      const kind = column === 'berth' && !config.selftest ? 'berth' : 'reference';
      servers.push(
        await startServer(column, kind, dir, {
          env: { REGISTRY_TRUST_POLICIES_ALL_MODE: 'enforce', REGISTRY_TRUST_POLICIES_ALL_KEYS_BENCH: key.publicKeyPem },
        }),
      );
    }
    const repo = 'bench/signed';
    const url = (s: Server) => `${s.base}/v2/${repo}/manifests/latest`;
    for (const s of servers) {
      await res.guard(s, 'trust', async () => {
        const img = makeImage();
        await pushImage(s.base, repo, 'latest', img);
        if (s.kind === 'berth') {
          // Correctness before speed: unsigned is refused, signed is served.
          const refused = await fetch(url(s), { headers: { Accept: MANIFEST_ACCEPT } });
          await refused.arrayBuffer();
          if (refused.status !== 403) throw new Error(`unsigned image under enforce: HTTP ${refused.status}, not 403`);
          const sig = cosignLegacySignature({ subjectDigest: img.digest, reference: `127.0.0.1/${repo}`, key });
          for (const b of sig.blobs) await pushBlob(s.base, repo, b.bytes);
          await putManifest(s.base, repo, sig.tag!, sig.manifest, sig.mediaType);
        }
        const get = await fetch(url(s), { headers: { Accept: MANIFEST_ACCEPT } });
        await get.arrayBuffer();
        if (get.status !== 200) throw new Error(`signed image: HTTP ${get.status}`);
      });
    }
    const ready = servers.filter((s) => !res.errors[s.column as 'berth' | 'reference'].trust);
    await rounds(
      ready,
      res,
      'manifest GET, signed, enforce (wrk)',
      'trust_manifest',
      (s, secs) => wrkGet(url(s), { Accept: MANIFEST_ACCEPT }, secs, config.connections),
      'trust',
    );
    res.note(
      'Trust: Berth runs with a registry-wide `enforce` policy trusting one ECDSA P-256 key; the tag points at an image with a cosign signature (`sha256-<hex>.sig`) made with that key. The reference registry verifies nothing; the row shows what verification on the read path costs against a registry that does none (compare with the plain manifest GET row).',
    );
  } finally {
    await Promise.all(servers.map(stopServer));
  }
}
