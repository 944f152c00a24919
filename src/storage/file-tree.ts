// Walking a directory tree of files: the filesystem driver's listings and the import of a registry:2 root.
import type { Dir } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The files under a directory, depth first, in pages of at most 256 paths per directory, with one open
 * directory per level (opendir reads its entries in pages): a listing of millions of blobs never sits in
 * memory. A missing directory has no files.
 */
export async function* walkFiles(path: string): AsyncGenerator<string[]> {
  let dir: Dir;
  try {
    dir = await opendir(path, { bufferSize: 256 });
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  let files: string[] = [];
  // for-await closes the directory when the loop ends, throws or the consumer stops early.
  for await (const e of dir) {
    const full = join(path, e.name);
    if (e.isDirectory()) yield* walkFiles(full);
    else if (e.isFile()) files.push(full);
    if (files.length >= 256) {
      yield files;
      files = [];
    }
  }
  if (files.length > 0) yield files;
}

/** A missing file or directory (or a file where a directory was expected). */
export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
