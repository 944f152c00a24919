// `berth import s3://bucket/prefix`: the registry:2 root of test/import/helpers.ts uploaded to a prefix of
// the shared Ceph RGW bucket (as registry:2's s3 driver lays it out: the same keys under its rootdirectory),
// read with the AWS_* environment and --s3-endpoint, and imported into a Berth (filesystem + SQLite).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ImportReport } from '../../src/import/importer.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { Skopeo } from '../helpers/clients.js';
import { MANIFEST_ACCEPT, RegistryApi } from '../helpers/oci.js';
import { rgw, type RgwEnv } from '../helpers/s3.js';
import { sleep, tempDir } from '../helpers/shared.js';
import { berthImport, fillSource, type Source, tagHistory } from './helpers.js';

type Report = ImportReport & { changed: boolean };

let src: Source;
let berth: RegistryProcess;
let env: RgwEnv;
let client: S3Client;
const prefix = `import-src-${randomBytes(6).toString('hex')}`;

/** Every file of the directory, with its key under the root and its mtime. */
function files(root: string): { key: string; file: string; mtime: number }[] {
  const out: { key: string; file: string; mtime: number }[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) out.push({ key: path.relative(root, full).split(path.sep).join('/'), file: full, mtime: fs.statSync(full).mtimeMs });
    }
  };
  walk(root);
  return out;
}

before(
  async () => {
    env = await rgw();
    client = new S3Client({
      endpoint: env.endpoint,
      region: env.region,
      forcePathStyle: true,
      credentials: { accessKeyId: env.accessKey, secretAccessKey: env.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    src = await fillSource();
    await src.up.stop();
    const all = files(src.up.root).filter((f) => f.key.startsWith('docker/'));
    const put = (f: { key: string; file: string }) =>
      client.send(new PutObjectCommand({ Bucket: env.bucket, Key: `${prefix}/${f.key}`, Body: fs.readFileSync(f.file) }));
    // A tag's index links in the order they were written, a second apart (S3 keeps the write time, to the
    // second); everything else at once.
    const indexLinks = all.filter((f) => /\/_manifests\/tags\/[^/]+\/index\//.test(f.key)).sort((a, b) => a.mtime - b.mtime);
    const rest = all.filter((f) => !indexLinks.includes(f));
    for (let i = 0; i < rest.length; i += 16) await Promise.all(rest.slice(i, i + 16).map(put));
    for (const f of indexLinks) {
      await put(f);
      await sleep(1100);
    }
    berth = await startBerth({ name: 'import-s3-target' });
  },
  { timeout: 10 * 60_000 },
);

after(async () => {
  await berth?.dispose();
  await src?.up.dispose();
  if (client) {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: `${prefix}/` }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: env.bucket, Delete: { Objects: keys } }));
    }
    client.destroy();
  }
});

async function importS3(args: string[]): Promise<{ status: number | null; report: Report }> {
  const r = await berthImport(berth.root, ['--json', '--s3-endpoint', env.endpoint, ...args, `s3://${env.bucket}/${prefix}`], {
    AWS_ACCESS_KEY_ID: env.accessKey,
    AWS_SECRET_ACCESS_KEY: env.secretKey,
    AWS_REGION: env.region,
  });
  try {
    return { status: r.status, report: JSON.parse(r.stdout) as Report };
  } catch {
    throw new Error(`berth import exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  }
}

describe('berth import from a registry:2 root in an S3 bucket', () => {
  it('--dry-run counts what was pushed', { timeout: 5 * 60_000 }, async () => {
    const { status, report } = await importS3(['--dry-run']);
    const e = src.expected;
    assert.equal(status, 3);
    assert.match(report.source, new RegExp(`^s3://${env.bucket}/${prefix}/`));
    assert.deepEqual(
      [report.repositories.found, report.tags.found, report.manifests.found, report.blobs.found, report.blobs.bytes, report.history.entries],
      [e.repositories, e.tags, e.manifests, e.blobs, e.bytes, e.history],
    );
    assert.deepEqual(
      report.corrupt.map((c) => c.digest),
      [src.broken.layer],
    );
    assert.deepEqual(report.dangling, [{ kind: 'layer', repository: 'library/dangling', digest: src.dangling.layer }]);
    assert.deepEqual(report.staleUploads, [{ repository: 'library/tiny', id: src.staleUpload }]);
  });

  it('imports: every tag has the source digest, the moved tag its history, a pull works; a second run changes nothing', { timeout: 5 * 60_000 }, async () => {
    const first = await importS3([]);
    assert.equal(first.status, 3);
    assert.equal(first.report.manifests.imported, src.expected.manifests - 2);
    assert.equal(first.report.blobs.imported, src.expected.blobs - 1);
    assert.deepEqual(first.report.failures, []);
    const api = new RegistryApi(berth.url);
    for (const ref of src.refs) {
      if (src.unimportable.includes(ref.repo)) assert.equal(await api.manifestStatus(ref.repo, ref.tag), 404);
      else assert.equal((await api.getManifest(ref.repo, ref.tag, MANIFEST_ACCEPT)).digest, ref.digest, `${ref.repo}:${ref.tag}`);
    }
    await new Skopeo('import-s3-check').run([
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${berth.hostPort}/library/multi:latest`,
      `oci:${tempDir('import-s3-pull')}:x`,
    ]);
    assert.equal(first.report.history.entries, src.expected.history);
    assert.deepEqual(
      (await tagHistory(berth.root, 'library/moved', 'v')).map((e) => e[1]),
      [...src.moved].reverse(),
      'the earlier digests in the order they were tagged',
    );
    const second = await importS3([]);
    assert.equal(second.report.changed, false);
    assert.equal(second.report.tags.unchanged, src.expected.tags - 2);
  });
});
