// Running `berth scrub` (the built dist/main.js, as an operator would) against a test server's
// storage and database, and reading what the database still knows.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { createStorage } from '../../src/app.js';
import type { BerthConfig } from '../../src/config/index.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openMetadata } from '../../src/metadata/open.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { type CommandRun, commandRun, envWithoutSettings } from '../helpers/berth-process.js';

export const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

export type Run = CommandRun;

/**
 * A config file naming the server's database and storage, as an operator's config.yml would;
 * `storageRoot` (filesystem) or `s3Root` (S3 key prefix) point the scrub elsewhere.
 */
export function scrubConfigFile(config: BerthConfig, file: string, over: { storageRoot?: string; s3Root?: string } = {}): string {
  const s3 = config.storage.s3;
  const doc = {
    log: { level: 'silent' },
    storage: {
      filesystem: { rootdirectory: over.storageRoot ?? config.storage.filesystem.rootdirectory },
      ...(s3
        ? {
            s3: {
              bucket: s3.bucket,
              region: s3.region,
              regionendpoint: s3.regionendpoint,
              accesskey: s3.accesskey,
              secretkey: s3.secretkey,
              forcepathstyle: s3.forcepathstyle,
              rootdirectory: over.s3Root ?? s3.rootdirectory,
            },
          }
        : {}),
    },
    metadata: config.metadata.postgres ? { postgres: { url: config.metadata.postgres.url, poolsize: 4 } } : { sqlite: { path: config.metadata.sqlite.path } },
  };
  writeFileSync(file, YAML.stringify(doc));
  return file;
}

/** The REGISTRY_* variables that name the server's filesystem storage and database, for a run without a config file. */
export function scrubEnv(config: BerthConfig): Record<string, string> {
  return {
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: config.storage.filesystem.rootdirectory,
    REGISTRY_LOG_LEVEL: 'silent',
    ...(config.metadata.postgres ? { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: config.metadata.postgres.url } : {}),
  };
}

/** `berth scrub ARGS -c FILE` (no -c when `configFile` is null), with no REGISTRY_/BERTH_ variables but `env`. */
export function berthScrub(configFile: string | null, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const clean = envWithoutSettings();
  const child = spawn(process.execPath, [MAIN, 'scrub', ...args, ...(configFile ? ['-c', configFile] : [])], { cwd: REPO_ROOT, env: { ...clean, ...env } });
  child.stdin.end();
  return commandRun(child);
}

/** The server's storage and database opened a second time, as the scrub command opens them. */
export async function openStores(config: BerthConfig): Promise<{ storage: StorageDriver; meta: MetadataDb }> {
  return { storage: await createStorage(config), meta: await openMetadata(config) };
}

/** Row counts of the tables a repair may change (to show a plain scrub writes nothing). */
export async function rowCounts(meta: MetadataDb): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['blobs', 'repository_blobs', 'manifests', 'manifest_references', 'tags', 'tag_history'] as const) {
    const row = await meta.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

export async function blobRowExists(meta: MetadataDb, digest: string): Promise<boolean> {
  return (await meta.db.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst()) !== undefined;
}
