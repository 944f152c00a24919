// The mirror under test and the real clients pointed at it, for test/e2e/mirror-*.test.ts:
// - startMirror: Berth as a pull-through cache of an upstream (registry:2's `proxy.remoteurl`, or
//   Berth's `mirror.upstreams` with `hosts: [docker.io]` and `default: true`), or, with
//   BERTH_E2E_TARGET=reference, docker-registry in proxy mode — the same tests prove the set-up.
// - startMirrorDockerd: a private dockerd whose daemon.json names the mirror in "registry-mirrors",
//   so `docker pull tiny` asks the mirror for library/tiny (there is no internet to fall back to).
// - writeHostsDir: containerd's hosts.toml naming the mirror for docker.io (ctr --hosts-dir).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { e2eTarget, startBerth, startReference, type RegistryProcess } from './berth-process.js';
import { BIN, run, runMayFail, type RunOptions, type RunResult, requireBinary } from './clients.js';
import { SCRIPTS, removeTree, tempDir } from './shared.js';

const execFileP = promisify(execFile);

export interface MirrorOptions {
  /** 'proxy': proxy.remoteurl (registry:2 compatible); 'upstreams': mirror.upstreams.hub for docker.io, default. */
  mode: 'proxy' | 'upstreams';
  username?: string;
  password?: string;
  /** extra REGISTRY_* environment for Berth */
  env?: Record<string, string>;
  name?: string;
}

/** The name of the upstream in 'upstreams' mode (its local path prefix). */
export const MIRROR_UPSTREAM_NAME = 'hub';

export function startMirror(upstreamUrl: string, opts: MirrorOptions): Promise<RegistryProcess> {
  const name = opts.name ?? `mirror-${opts.mode}`;
  if (e2eTarget() === 'reference') {
    // docker-registry knows one upstream only, and ignores ns=: both modes are its proxy mode
    const env: Record<string, string> = { REGISTRY_PROXY_REMOTEURL: upstreamUrl };
    if (opts.username) env.REGISTRY_PROXY_USERNAME = opts.username;
    if (opts.password) env.REGISTRY_PROXY_PASSWORD = opts.password;
    return startReference({ env, name });
  }
  if (opts.mode === 'proxy') {
    const env: Record<string, string> = { REGISTRY_PROXY_REMOTEURL: upstreamUrl, ...opts.env };
    if (opts.username) env.REGISTRY_PROXY_USERNAME = opts.username;
    if (opts.password) env.REGISTRY_PROXY_PASSWORD = opts.password;
    return startBerth({ env, name });
  }
  const file = path.join(tempDir('mirror-config'), 'config.yml');
  const creds = [
    ...(opts.username ? [`      username: ${JSON.stringify(opts.username)}`] : []),
    ...(opts.password ? [`      password: ${JSON.stringify(opts.password)}`] : []),
  ];
  fs.writeFileSync(
    file,
    [
      'mirror:',
      '  upstreams:',
      `    ${MIRROR_UPSTREAM_NAME}:`,
      `      url: ${JSON.stringify(upstreamUrl)}`,
      '      hosts: [docker.io, registry-1.docker.io]',
      '      default: true',
      ...creds,
      '',
    ].join('\n'),
  );
  return startBerth({ env: { BERTH_CONFIG: file, ...opts.env }, name });
}

// ---------------------------------------------------------------------------------------
// A private dockerd with --registry-mirror

export interface MirrorDockerd {
  dir: string;
  dockerHost: string;
  containerdAddress: string;
  /** the docker CLI against this daemon, with its own empty config */
  docker(args: string[], opts?: RunOptions): Promise<RunResult>;
  dockerMayFail(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `docker image inspect`, parsed */
  inspect(ref: string): Promise<{ Id: string; RepoTags: string[]; RepoDigests: string[]; RootFS: { Layers: string[] } }>;
  /** `docker image rm --force` of everything this daemon holds */
  removeAllImages(): Promise<void>;
  stop(): Promise<void>;
}

const started = new Set<string>();
const stopAll = () => {
  for (const dir of started) stopSync(dir);
  started.clear();
};
process.on('exit', stopAll);
// a test file stopped by a signal (timeout, Ctrl-C) has no 'exit' event: its dockerd would outlive it
// (berth-process.ts re-raises the signal after its own cleanup; this runs before that takes effect)
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, stopAll);

function stopSync(dir: string): void {
  try {
    execFileSync('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
  } catch {
    /* already gone */
  }
  if (process.env.BERTH_E2E_KEEP !== '1') removeTree(dir);
}

/** Start a dockerd of its own whose registry mirror is `mirrorUrl` (http://127.0.0.1:PORT). */
export async function startMirrorDockerd(mirrorUrl: string): Promise<MirrorDockerd> {
  requireBinary(BIN.docker);
  requireBinary('/usr/sbin/dockerd');
  // short: unix socket paths are limited to 107 bytes
  const dir = fs.mkdtempSync('/tmp/berth-mdk.');
  fs.writeFileSync(path.join(dir, 'daemon.json'), `${JSON.stringify({ 'registry-mirrors': [mirrorUrl] })}\n`);
  started.add(dir);
  const { stdout } = await execFileP('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), 'start', dir], { timeout: 120_000 });
  const vars = Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const configDir = path.join(dir, 'docker-config');
  fs.mkdirSync(configDir);
  fs.writeFileSync(path.join(configDir, 'config.json'), '{}\n');
  const env = { DOCKER_HOST: vars.DOCKER_HOST, DOCKER_CONFIG: configDir };
  const self: MirrorDockerd = {
    dir,
    dockerHost: vars.DOCKER_HOST,
    containerdAddress: vars.CONTAINERD_ADDRESS,
    docker: (args, opts = {}) => run(BIN.docker, args, { ...opts, env: { ...env, ...opts.env } }),
    dockerMayFail: (args, opts = {}) => runMayFail(BIN.docker, args, { ...opts, env: { ...env, ...opts.env } }),
    async inspect(ref) {
      return JSON.parse((await self.docker(['image', 'inspect', ref])).stdout)[0];
    },
    async removeAllImages() {
      const ids = (await self.docker(['image', 'ls', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await self.docker(['image', 'rm', '--force', ...new Set(ids)]);
    },
    async stop() {
      started.delete(dir);
      await execFileP('bash', [path.join(SCRIPTS, 'start-dockerd.sh'), 'stop', dir], { timeout: 60_000 }).catch(() => undefined);
      if (process.env.BERTH_E2E_KEEP !== '1') removeTree(dir);
    },
  };
  const info = JSON.parse((await self.docker(['info', '--format', '{{json .RegistryConfig.Mirrors}}'])).stdout) as string[];
  if (!info.some((m) => m.replace(/\/$/, '') === mirrorUrl.replace(/\/$/, '')))
    throw new Error(`dockerd in ${dir} did not take the mirror ${mirrorUrl}: ${info}`);
  return self;
}

// ---------------------------------------------------------------------------------------
// containerd hosts.toml

/** A --hosts-dir for ctr where docker.io's only host is the mirror (pull and resolve). */
export function writeHostsDir(mirrorUrl: string): string {
  const dir = tempDir('ctr-hosts');
  fs.mkdirSync(path.join(dir, 'docker.io'));
  fs.writeFileSync(
    path.join(dir, 'docker.io', 'hosts.toml'),
    ['server = "https://registry-1.docker.io"', '', `[host."${mirrorUrl}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
  );
  return dir;
}
