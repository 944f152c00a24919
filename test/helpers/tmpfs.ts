// A small tmpfs for tests of a full disk: mounted (tests run as root), filled until the kernel
// says ENOSPC, emptied again, unmounted. Mounting fails loudly; such tests never skip.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, rmdirSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  /** Writes to a filler file until the filesystem is full; returns the bytes the file holds. */
  fill(): number;
  /** Shrinks the filler file by `bytes`: that much room is left. */
  leave(bytes: number): void;
  /** Removes the filler file. */
  free(): void;
  unmount(): void;
}

export function mountTmpfs(sizeMiB: number, prefix = 'berth-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmdirSync(dir);
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a ${sizeMiB} MiB tmpfs at ${dir} (the full-disk tests need root): ${stderr || (err as Error).message}`);
  }
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const before = existsSync(filler) ? statSync(filler).size : 0;
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 0xaa);
      let written = before;
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      // The last partial chunk: tmpfs hands out whole pages, so write single pages until none is left.
      const fd2 = openSync(filler, 'a');
      try {
        for (;;) written += writeSync(fd2, chunk, 0, 4096);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd2);
      }
      return written;
    },
    leave(bytes) {
      truncateSync(filler, Math.max(0, statSync(filler).size - bytes));
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    },
  };
}
