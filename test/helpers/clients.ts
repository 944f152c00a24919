// Thin wrappers around the real registry clients (skopeo, podman, buildah, docker, ctr),
// each with its own isolated configuration so tests never touch the machine's state and
// parallel test files do not see each other. Every call captures stdout/stderr and throws
// a CommandError (with the output) on a non-zero exit. A missing client is an error, never
// a skip.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureDockerd, tempDir } from './shared.js';

export const BIN = {
  skopeo: '/usr/bin/skopeo',
  podman: '/usr/bin/podman',
  buildah: '/usr/bin/buildah',
  // not just `docker`: another docker CLI may come first on PATH
  docker: '/usr/bin/docker',
  ctr: '/usr/bin/ctr',
  openssl: '/usr/bin/openssl',
  htpasswd: '/usr/bin/htpasswd',
  tar: 'tar',
} as const;

const PACKAGE: Record<string, string> = {
  '/usr/bin/skopeo': 'skopeo',
  '/usr/bin/podman': 'podman',
  '/usr/bin/buildah': 'buildah',
  '/usr/bin/docker': 'docker.io',
  '/usr/bin/ctr': 'containerd',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/htpasswd': 'apache2-utils',
};

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export class CommandError extends Error {
  constructor(readonly result: RunResult) {
    super(
      `command failed (exit ${result.code ?? result.signal}, ${result.ms} ms): ${result.command}\n` +
        `--- stderr ---\n${lastChars(result.stderr, 6000)}\n--- stdout ---\n${lastChars(result.stdout, 3000)}`,
    );
    this.name = 'CommandError';
  }
}

function lastChars(s: string, n: number): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Check that a client binary is installed; a missing one fails the test with a clear message. */
export function requireBinary(bin: string): void {
  if (bin.startsWith('/') && !fs.existsSync(bin)) {
    throw new Error(
      `${bin} is not installed (Debian package ${PACKAGE[bin] ?? '?'}): run scripts/install-test-deps.sh — ` +
        `the e2e tests fail rather than skip when a client is missing`,
    );
  }
}

/** Run a command; resolves even when it fails (look at .code). */
export function runMayFail(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  requireBinary(cmd);
  const command = [cmd, ...args].map(quote).join(' ');
  const t0 = Date.now();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timeoutMs = opts.timeoutMs ?? 150_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString() + (timedOut ? `\n[killed after ${timeoutMs} ms timeout]` : '');
      resolve({ command, code, signal, stdout: Buffer.concat(out).toString(), stderr, ms: Date.now() - t0 });
    });
    child.stdin.on('error', () => {
      /* the command may not read its input */
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a command; throws CommandError unless it exits 0. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runMayFail(cmd, args, opts);
  if (r.code !== 0) throw new CommandError(r);
  return r;
}

// ---------------------------------------------------------------------------------------
// containers/image tools (skopeo, podman, buildah): one private config + storage per sandbox

export interface ContainersSandbox {
  dir: string;
  authFile: string;
  policyFile: string;
  env: Record<string, string>;
}

export function containersSandbox(name: string): ContainersSandbox {
  const dir = tempDir(name);
  const authFile = path.join(dir, 'auth.json');
  fs.writeFileSync(authFile, '{}\n');
  const policyFile = path.join(dir, 'policy.json');
  fs.writeFileSync(policyFile, `${JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] })}\n`);
  const storageConf = path.join(dir, 'storage.conf');
  const driver = process.env.BERTH_E2E_STORAGE_DRIVER ?? 'overlay';
  fs.writeFileSync(storageConf, `[storage]\ndriver = "${driver}"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/graph"\n`);
  const registriesConf = path.join(dir, 'registries.conf');
  fs.writeFileSync(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  const containersConf = path.join(dir, 'containers.conf');
  fs.writeFileSync(containersConf, `[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\ntmp_dir = "${dir}/libpod-tmp"\n`);
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  return {
    dir,
    authFile,
    policyFile,
    env: {
      REGISTRY_AUTH_FILE: authFile,
      CONTAINERS_STORAGE_CONF: storageConf,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      CONTAINERS_CONF: containersConf,
      TMPDIR: tmp,
    },
  };
}

abstract class ContainersTool {
  readonly sandbox: ContainersSandbox;
  constructor(
    readonly bin: string,
    name: string,
  ) {
    requireBinary(bin);
    this.sandbox = containersSandbox(name);
  }
  protected prefix(): string[] {
    return [];
  }
  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.bin, [...this.prefix(), ...args], { ...opts, env: { ...this.sandbox.env, ...opts.env } });
  }
  runMayFail(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return runMayFail(this.bin, [...this.prefix(), ...args], { ...opts, env: { ...this.sandbox.env, ...opts.env } });
  }
}

export class Skopeo extends ContainersTool {
  constructor(name = 'skopeo') {
    super(BIN.skopeo, name);
  }
  protected override prefix(): string[] {
    return ['--policy', this.sandbox.policyFile];
  }
}

export class Podman extends ContainersTool {
  constructor(name = 'podman') {
    super(BIN.podman, name);
  }
  /** `podman image inspect` of one image, parsed */
  async inspect(ref: string): Promise<PodmanImage> {
    const r = await this.run(['image', 'inspect', ref]);
    const arr = JSON.parse(r.stdout) as PodmanImage[];
    if (arr.length !== 1) throw new Error(`podman image inspect ${ref}: ${arr.length} results`);
    return arr[0];
  }
}

export class Buildah extends ContainersTool {
  constructor(name = 'buildah') {
    super(BIN.buildah, name);
  }
  async inspect(ref: string): Promise<BuildahImage> {
    const r = await this.run(['inspect', '--type', 'image', ref]);
    return JSON.parse(r.stdout) as BuildahImage;
  }
}

export interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  RepoTags: string[];
  Architecture: string;
  Variant?: string | null;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

export interface BuildahImage {
  FromImageID: string;
  FromImageDigest: string;
  Manifest: string;
  Config: string;
  OCIv1: { architecture: string; variant?: string; rootfs: { diff_ids: string[] } };
}

// ---------------------------------------------------------------------------------------
// docker: the CLI against the shared dockerd started by scripts/start-dockerd.sh

export interface DockerImage {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Variant?: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

export class Docker {
  private constructor(
    readonly configDir: string,
    readonly dockerHost: string,
  ) {}

  static async create(name = 'docker'): Promise<Docker> {
    requireBinary(BIN.docker);
    requireBinary('/usr/sbin/dockerd');
    const d = await ensureDockerd();
    const configDir = path.join(tempDir(name), 'docker-config');
    fs.mkdirSync(configDir);
    fs.writeFileSync(path.join(configDir, 'config.json'), '{}\n');
    return new Docker(configDir, d.dockerHost);
  }
  private env(): Record<string, string> {
    return { DOCKER_HOST: this.dockerHost, DOCKER_CONFIG: this.configDir };
  }
  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(BIN.docker, args, { ...opts, env: { ...this.env(), ...opts.env } });
  }
  runMayFail(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return runMayFail(BIN.docker, args, { ...opts, env: { ...this.env(), ...opts.env } });
  }
  async inspect(ref: string): Promise<DockerImage> {
    const r = await this.run(['image', 'inspect', ref]);
    return (JSON.parse(r.stdout) as DockerImage[])[0];
  }
  /** Remove an image by id (all its tags) if present. */
  async removeImage(idOrRef: string): Promise<void> {
    const r = await this.runMayFail(['image', 'rm', '--force', idOrRef]);
    if (r.code !== 0 && !/No such image/i.test(r.stderr)) throw new CommandError(r);
  }
}

// ---------------------------------------------------------------------------------------
// ctr: containerd's CLI against dockerd's containerd, in a private namespace

let ctrCounter = 0;

export class Ctr {
  private constructor(
    readonly address: string,
    readonly namespace: string,
  ) {}

  static async create(namespace: string): Promise<Ctr> {
    requireBinary(BIN.ctr);
    const d = await ensureDockerd();
    const ns = `berth-${namespace}-${process.pid}-${(++ctrCounter).toString(36)}${Date.now().toString(36)}`.replace(/[^a-zA-Z0-9.-]/g, '-');
    return new Ctr(d.containerdAddress, ns);
  }
  /**
   * containerd shares content across namespaces: blobs left in a namespace of a crashed
   * earlier run would make a pull skip downloads. Delete namespaces made by create() whose
   * process is gone.
   */
  static async purgeStale(): Promise<void> {
    const d = await ensureDockerd();
    const r = await run(BIN.ctr, ['--address', d.containerdAddress, 'namespaces', 'ls', '-q']);
    for (const ns of r.stdout.split('\n').filter(Boolean)) {
      const m = /^berth-[a-z]+-(\d+)-/.exec(ns);
      if (!m || Number(m[1]) === process.pid) continue;
      try {
        process.kill(Number(m[1]), 0);
        continue; // still running: another test file's
      } catch {
        /* gone */
      }
      await new Ctr(d.containerdAddress, ns).destroy();
    }
  }
  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(BIN.ctr, ['--address', this.address, '--namespace', this.namespace, ...args], opts);
  }
  runMayFail(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return runMayFail(BIN.ctr, ['--address', this.address, '--namespace', this.namespace, ...args], opts);
  }
  async imageNames(): Promise<string[]> {
    const r = await this.run(['images', 'ls', '-q']);
    return r.stdout.split('\n').filter(Boolean);
  }
  /** Remove every image of the namespace (garbage-collecting its content) and the namespace. */
  async destroy(): Promise<void> {
    const names = await this.imageNames();
    if (names.length) await this.run(['images', 'rm', '--sync', ...names]);
    const leases = (await this.run(['leases', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    for (const l of leases) await this.runMayFail(['leases', 'rm', '--sync', l]);
    await runMayFail(BIN.ctr, ['--address', this.address, 'namespaces', 'rm', this.namespace]);
  }
}

// ---------------------------------------------------------------------------------------
// TLS certificate + htpasswd file for the auth tests

export interface TlsAuthFixture {
  dir: string;
  certFile: string;
  keyFile: string;
  htpasswdFile: string;
  user: string;
  password: string;
  /** REGISTRY_* environment enabling TLS and htpasswd auth */
  env: Record<string, string>;
}

export async function makeTlsAuthFixture(user = 'berth-user', password = 'S3cret-pass'): Promise<TlsAuthFixture> {
  const dir = tempDir('tls');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await run(BIN.openssl, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const htpasswdFile = path.join(dir, 'htpasswd');
  const r = await run(BIN.htpasswd, ['-Bbn', user, password]);
  fs.writeFileSync(htpasswdFile, `${r.stdout.trim()}\n`);
  return {
    dir,
    certFile,
    keyFile,
    htpasswdFile,
    user,
    password,
    env: {
      REGISTRY_HTTP_TLS_CERTIFICATE: certFile,
      REGISTRY_HTTP_TLS_KEY: keyFile,
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'berth-e2e',
      REGISTRY_AUTH_HTPASSWD_PATH: htpasswdFile,
    },
  };
}
