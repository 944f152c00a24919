// Start a registry as a child process for end-to-end tests: Berth (`node dist/main.js serve`)
// or the reference registry (Debian's docker-registry, CNCF distribution 2.8), both with
// the same interface and the same REGISTRY_* environment, so tests can run against either.
//
//   BERTH_E2E_TARGET=reference   run the e2e tests against docker-registry instead of Berth
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from './http.js';
import { ARTIFACTS, REPO_ROOT, sleep } from './shared.js';

export type RegistryKind = 'berth' | 'reference';

export interface RegistryProcess {
  kind: RegistryKind;
  /** http://127.0.0.1:PORT or https://… when TLS is configured */
  url: string;
  /** 127.0.0.1:PORT — what clients put in image references */
  hostPort: string;
  port: number;
  /** storage root (REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY) */
  root: string;
  tls: boolean;
  logFile: string;
  /** the current child process (a new one after restart()) */
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period */
  stop(): Promise<void>;
  /** SIGKILL, wait for the exit */
  kill9(): Promise<void>;
  /** stop if running, start again on the same port and root */
  restart(): Promise<void>;
  /** stop and remove the storage root */
  dispose(): Promise<void>;
  /** last lines of the log, for failure messages */
  logTail(lines?: number): string;
}

export interface StartOptions {
  /** extra environment (TLS, auth…) */
  env?: Record<string, string>;
  /** reuse an existing storage root */
  root?: string;
  /** a name for the log file */
  name?: string;
  /** ms to wait until /v2/ answers */
  readyTimeoutMs?: number;
  /** working directory of the server (default: the repository root) */
  cwd?: string;
}

export function e2eTarget(): RegistryKind {
  const t = (process.env.BERTH_E2E_TARGET ?? 'berth').toLowerCase();
  if (t !== 'berth' && t !== 'reference') throw new Error(`BERTH_E2E_TARGET must be berth or reference, not ${t}`);
  return t;
}

/** Start the registry selected by BERTH_E2E_TARGET (default: Berth). */
export function startRegistry(opts: StartOptions = {}): Promise<RegistryProcess> {
  return e2eTarget() === 'reference' ? startReference(opts) : startBerth(opts);
}

export function startBerth(opts: StartOptions = {}): Promise<RegistryProcess> {
  const main = path.join(REPO_ROOT, 'dist', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error(`${main} does not exist: run \`npm run build\` first (or BERTH_E2E_TARGET=reference)`);
  }
  return launch('berth', opts, (port, root) => ({
    cmd: process.execPath,
    args: [main, 'serve'],
    env: baseEnv(port, root),
  }));
}

export function startReference(opts: StartOptions = {}): Promise<RegistryProcess> {
  const bin = '/usr/bin/docker-registry';
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing: apt-get install docker-registry (scripts/install-test-deps.sh)`);
  return launch('reference', opts, (port, root, logFile) => {
    const config = `${logFile.replace(/\.log$/, '')}.config.yml`;
    // the same settings come from REGISTRY_* env too; the file keeps the packaged default
    // config (which listens on *:5000) out of the picture
    fs.writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${root}`,
        '  delete:',
        '    enabled: true',
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '  secret: berth-e2e-reference-secret',
        '',
      ].join('\n'),
    );
    return { cmd: bin, args: ['serve', config], env: baseEnv(port, root) };
  });
}

/**
 * The test process's environment minus REGISTRY_* and BERTH_* (the tests' own knobs such as
 * BERTH_E2E_TARGET, or a developer's settings): the server only gets the config we give it.
 */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(REGISTRY|BERTH)_/.test(k)) env[k] = v;
  }
  return env;
}

function baseEnv(port: number, root: string): Record<string, string> {
  return {
    REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root,
    REGISTRY_LOG_LEVEL: 'warn',
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('exit', killAll);
// the test runner stops a file's process with a signal (timeout, Ctrl-C): no 'exit' event
// then, so take the servers down here and die of the same signal
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

type Spec = { cmd: string; args: string[]; env: Record<string, string> };

let logCounter = 0;

async function launch(kind: RegistryKind, opts: StartOptions, spec: (port: number, root: string, logFile: string) => Spec): Promise<RegistryProcess> {
  const root = opts.root ?? fs.mkdtempSync(path.join(os.tmpdir(), `berth-e2e-${kind}-data-`));
  fs.mkdirSync(root, { recursive: true });
  const extraEnv = opts.env ?? {};
  const tls = Boolean(extraEnv.REGISTRY_HTTP_TLS_CERTIFICATE);
  const logDir = path.join(ARTIFACTS, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${opts.name ?? 'registry'}-${kind}-${process.pid}-${++logCounter}.log`.replace(/[^\w.-]+/g, '_'));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;

  let child!: ChildProcess;
  let port = 0;
  let exited: Promise<void> = Promise.resolve();
  let running = false;

  const spawnOnce = async (p: number): Promise<'ok' | 'addrinuse'> => {
    const s = spec(p, root, logFile);
    const fd = fs.openSync(logFile, 'a');
    fs.writeSync(fd, `\n=== ${new Date().toISOString()} start ${kind} on 127.0.0.1:${p} root=${root}\n`);
    child = spawn(s.cmd, s.args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...inheritedEnv(), ...s.env, ...extraEnv },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    live.add(child);
    running = true;
    const c = child;
    exited = new Promise<void>((resolve) => {
      c.once('exit', (code, signal) => {
        live.delete(c);
        if (c === child) running = false;
        fs.appendFileSync(logFile, `=== ${new Date().toISOString()} exited code=${code} signal=${signal}\n`);
        resolve();
      });
      c.once('error', (err) => {
        fs.appendFileSync(logFile, `=== spawn error: ${err.message}\n`);
        live.delete(c);
        if (c === child) running = false;
        resolve();
      });
    });
    const base = `${tls ? 'https' : 'http'}://127.0.0.1:${p}`;
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (!running) {
        return /EADDRINUSE|address already in use/i.test(tail(logFile, 30)) ? 'addrinuse' : failStart();
      }
      try {
        const r = await request(`${base}/v2/`, { timeoutMs: 2000 });
        if (r.status === 200 || r.status === 401) return 'ok';
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    c.kill('SIGKILL');
    await exited;
    throw new Error(`${kind} did not answer GET /v2/ within ${readyTimeoutMs} ms; log ${logFile}:\n${tail(logFile, 40)}`);
  };
  const failStart = (): never => {
    throw new Error(`${kind} exited during startup; log ${logFile}:\n${tail(logFile, 40)}`);
  };

  const start = async (fixedPort?: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const p = fixedPort ?? (await freePort());
      const r = await spawnOnce(p);
      if (r === 'ok') {
        port = p;
        return;
      }
      if (fixedPort !== undefined) {
        // the old socket may linger for a moment after a kill -9
        if (attempt < 20) {
          await sleep(250);
          continue;
        }
      } else if (attempt < 5) continue;
      throw new Error(`${kind}: port ${p} in use; log ${logFile}:\n${tail(logFile, 20)}`);
    }
  };

  const signalAndWait = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (!running) return;
    child.kill(sig);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await start();
  } catch (e) {
    if (!opts.root && process.env.BERTH_E2E_KEEP !== '1') fs.rmSync(root, { recursive: true, force: true });
    throw e;
  }

  const reg: RegistryProcess = {
    kind,
    get url() {
      return `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    },
    get hostPort() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    root,
    tls,
    logFile,
    get process() {
      return child;
    },
    stop: () => signalAndWait('SIGTERM', 10_000),
    kill9: () => signalAndWait('SIGKILL', 10_000),
    restart: async () => {
      await signalAndWait('SIGTERM', 10_000);
      await start(port);
    },
    dispose: async () => {
      await signalAndWait('SIGTERM', 10_000);
      if (process.env.BERTH_E2E_KEEP !== '1' && !opts.root) fs.rmSync(root, { recursive: true, force: true });
    },
    logTail: (lines = 60) => tail(logFile, lines),
  };
  return reg;
}

function tail(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** What a `berth` command run by a test printed, and how it exited. */
export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** This process's environment without BERTH_/REGISTRY_ variables, so a command sees only the settings a test gives it. */
export function envWithoutSettings(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(BERTH|REGISTRY)_/.test(k)));
}

/** Collects a spawned command's output (stdout and stderr piped) until it exits. */
export function commandRun(child: ChildProcess): Promise<CommandRun> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `berth ARGS` (a command such as gc) against the store and database of a test server, nothing else configured. */
export function berthCommandOn(s: { dir: string; config: { metadata: { postgres?: { url: string } } } }, args: string[]): Promise<CommandRun> {
  const pg = s.config.metadata.postgres;
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), ...args], {
    env: {
      ...envWithoutSettings(),
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: s.dir,
      REGISTRY_LOG_LEVEL: 'silent',
      ...(pg ? { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: pg.url } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return commandRun(child);
}
