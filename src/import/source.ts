import { open, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { isNotFound, walkFiles } from '../storage/file-tree.js';

/** One file of the source tree, by its key under the root ("docker/registry/v2/…"). */
export interface SourceObject {
  key: string;
  size: number;
  /** Last written (ms since the epoch): the order of a tag's index links. */
  modified: number;
}

export interface ImportSource {
  /** "directory /srv/registry" or "s3://bucket/prefix at http://…", for reports. */
  readonly description: string;
  /** Every file under `prefix` (a directory path ending in '/'), streamed, in no particular order. */
  list(prefix: string): AsyncIterable<SourceObject>;
  /** A file's bytes, streamed; null when it is gone. */
  read(key: string): Promise<Readable | null>;
  /** A small file's bytes (links, manifests); null when it is gone. */
  readSmall(key: string): Promise<Buffer | null>;
  /** The file's path when it is a local file (hard links and moves need one), else absent. */
  localPath?(key: string): string;
}

/** A registry:2 root directory on a local filesystem. */
export class DirectorySource implements ImportSource {
  readonly description: string;

  constructor(private readonly root: string) {
    this.description = `directory ${root}`;
  }

  async *list(prefix: string): AsyncIterable<SourceObject> {
    for await (const files of walkFiles(join(this.root, prefix))) {
      const stats = await Promise.all(files.map((f) => stat(f).catch(() => null)));
      for (const [i, s] of stats.entries()) {
        if (s?.isFile()) yield { key: relative(this.root, files[i]).split(sep).join('/'), size: s.size, modified: s.mtimeMs };
      }
    }
  }

  async read(key: string): Promise<Readable | null> {
    try {
      const fh = await open(this.localPath(key), 'r');
      return fh.createReadStream({ highWaterMark: 1024 * 1024 });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async readSmall(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.localPath(key));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  localPath(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`import: invalid source key "${key}"`);
    return join(this.root, key);
  }
}

/** Checks that `root` looks like a registry:2 storage root (it holds docker/registry/v2/). */
export async function checkDirectoryRoot(root: string): Promise<void> {
  const s = await stat(join(root, 'docker', 'registry', 'v2')).catch(() => null);
  if (!s?.isDirectory()) throw new Error(`${root} is not a registry:2 storage root: it has no docker/registry/v2/ directory`);
}
