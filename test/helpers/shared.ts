// Resources shared by all e2e test files of a run (node --test runs each file in its own
// process, two at a time): the test images and one dockerd. Each is created lazily by the
// first file that needs it, under a lock directory in os.tmpdir(), and reused by the others.
import { createHash } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCRIPTS = path.join(REPO_ROOT, 'scripts');
/** Where test logs go (gitignored); CI can print/upload them. */
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run fn while holding a cross-process lock (an atomically created directory holding the
 * owner's pid). A lock whose owner died is taken over.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  const lockDir = path.join(os.tmpdir(), 'berth-e2e-locks', `${name}.lock`);
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(lockDir, 'pid'), 'utf8'));
      } catch {
        /* being created or removed right now */
      }
      const st = fs.statSync(lockDir, { throwIfNoEntry: false });
      const stale = Number.isFinite(owner) ? !pidAlive(owner) : st !== undefined && Date.now() - st.mtimeMs > 10_000;
      if (stale) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir} (held by pid ${owner})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Test images (scripts/make-test-images.sh), cached by content

export interface TestImages {
  dir: string;
  /** Path of an OCI layout: tiny | multilayer | multiarch | artifact */
  layout(name: FixtureName): string;
  bigMiB: number;
}
export type FixtureName = 'tiny' | 'multilayer' | 'multiarch' | 'artifact';

export const BIG_MIB = Number(process.env.BIG_MIB ?? 100);

let imagesPromise: Promise<TestImages> | undefined;

/** Build (once per content) and return the deterministic test image layouts. */
export function testImages(): Promise<TestImages> {
  imagesPromise ??= (async () => {
    const script = path.join(SCRIPTS, 'make-test-images.sh');
    const seed = process.env.BERTH_E2E_SEED ?? 'berth';
    const key = createHash('sha256').update(fs.readFileSync(script)).update(`\0BIG_MIB=${BIG_MIB}\0SEED=${seed}`).digest('hex').slice(0, 16);
    const dir = path.join(os.tmpdir(), 'berth-e2e-images', key);
    const done = path.join(dir, 'summary.json');
    const result: TestImages = { dir, layout: (n) => path.join(dir, n), bigMiB: BIG_MIB };
    if (fs.existsSync(done)) return result;
    await withLock(`images-${key}`, async () => {
      if (fs.existsSync(done)) return;
      const t0 = Date.now();
      await execFileP('bash', [script, dir], {
        env: { ...process.env, BIG_MIB: String(BIG_MIB), SEED: seed },
        maxBuffer: 16 << 20,
      });
      process.stderr.write(`# test images built in ${dir} (${Date.now() - t0} ms)\n`);
    });
    if (!fs.existsSync(done)) throw new Error(`make-test-images.sh did not produce ${done}`);
    return result;
  })();
  return imagesPromise;
}

/** A file derived from a fixture (docker-archive, tarred layout…), made once under a lock. */
export async function derivedFile(name: string, make: (out: string) => Promise<void>): Promise<string> {
  const imgs = await testImages();
  const out = path.join(imgs.dir, 'derived', name);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await withLock(`derived-${path.basename(imgs.dir)}-${name}`, async () => {
    if (fs.existsSync(out)) return;
    const tmp = `${out}.tmp.${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    await make(tmp);
    fs.renameSync(tmp, out);
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// dockerd (scripts/start-dockerd.sh); scripts/test.sh stops it at the end of a run

export interface Dockerd {
  dir: string;
  dockerHost: string;
  containerdAddress: string;
}

let dockerdPromise: Promise<Dockerd> | undefined;

export function dockerDir(): string {
  return process.env.BERTH_DOCKER_DIR ?? path.join(os.tmpdir(), 'berth-dockerd');
}

export function ensureDockerd(): Promise<Dockerd> {
  dockerdPromise ??= withLock('dockerd', async () => {
    const dir = dockerDir();
    const { stdout } = await execFileP('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), 'start', dir], {
      env: process.env,
      timeout: 120_000,
    });
    const vars = Object.fromEntries(
      stdout
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    if (!vars.DOCKER_HOST || !vars.CONTAINERD_ADDRESS) throw new Error(`start-dockerd.sh printed no env:\n${stdout}`);
    return { dir, dockerHost: vars.DOCKER_HOST, containerdAddress: vars.CONTAINERD_ADDRESS };
  });
  return dockerdPromise;
}

/** A fresh temporary directory that is removed when the process exits. */
export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `berth-e2e-${prefix}-`));
  tempDirs.push(d);
  return d;
}
const tempDirs: string[] = [];
process.on('exit', () => {
  if (process.env.BERTH_E2E_KEEP === '1') return;
  for (const d of tempDirs) removeTree(d);
});

/**
 * rm -rf that first unmounts what is mounted below `dir` (containers/storage leaves its
 * overlay home bind-mounted after podman/buildah exit). Synchronous: runs at exit.
 */
export function removeTree(dir: string): void {
  try {
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* not ours to unmount, or already gone */
      }
    }
  } catch {
    /* no /proc/mounts */
  }
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}
