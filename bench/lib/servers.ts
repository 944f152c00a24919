// Starting and stopping the two registries, and reading their CPU time and memory from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { config } from './config.js';

export interface Server {
  /** 'berth' or 'reference' — the table column. */
  column: string;
  /** What runs in the column (both are 'reference' in self-test mode). */
  kind: 'berth' | 'reference';
  /** Berth's environment (its REGISTRY_* settings), for commands run against the same stores. */
  env?: NodeJS.ProcessEnv;
  /** What actually runs (e.g. 'docker-registry 2.8.2' in self-test mode). */
  label: string;
  /** A variant of the column's server (e.g. 'pg', 's3'); its rows' keys carry it as a prefix. */
  variant?: string;
  base: string;
  dir: string;
  logFile: string;
  proc: ChildProcess;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** What a section changes about the servers (e.g. token auth on both). */
export interface ServerOptions {
  /** Extra environment for Berth. */
  env?: Record<string, string>;
  /** Extra top-level YAML lines for the reference registry's config. */
  referenceYaml?: string[];
  /** The command that starts Berth (default: config.berthCmd). */
  berthCmd?: string;
  /** REGISTRY_HTTP_WORKERS for Berth (default: config.berthWorkers; '' leaves it unset). */
  workers?: string;
  /** Storage directory (default: <workDir>/<column>/data); replicas share one. */
  dataDir?: string;
  /** YAML lines under the reference's `storage:` instead of its filesystem driver (e.g. s3 and redirect). */
  referenceStorage?: string[];
  /** Marks the server as a variant of its column (Server.variant). */
  variant?: string;
  /** Directory name under workDir (default: the column). */
  name?: string;
}

/** Berth's environment for a server on `port` with filesystem storage in `dataDir` (plus `extra`). */
export function berthEnv(port: number, dataDir: string, workers: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dataDir,
    REGISTRY_STORAGE_DELETE_ENABLED: 'true',
    REGISTRY_LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    ...extra,
  };
  if (workers !== '') env.REGISTRY_HTTP_WORKERS = workers;
  else delete env.REGISTRY_HTTP_WORKERS;
  return env;
}

export function referenceConfig(port: number, dataDir: string, extra: string[] = [], storage?: string[]): string {
  // Access logs are off so both servers log only warnings; the in-memory blob descriptor cache is the
  // setting the upstream image ships with.
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...(storage ?? ['  filesystem:', `    rootdirectory: ${dataDir}`]),
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-bench-secret',
    ...extra,
    '',
  ].join('\n');
}

export async function startServer(column: string, kind: 'berth' | 'reference', workDir: string, opts: ServerOptions = {}): Promise<Server> {
  const port = await freePort();
  const dir = path.join(workDir, opts.name ?? column);
  const dataDir = opts.dataDir ?? path.join(dir, 'data');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'server.log');
  const log = fs.openSync(logFile, 'a');
  let proc: ChildProcess;
  let label: string;
  let env: NodeJS.ProcessEnv | undefined;
  if (kind === 'reference') {
    const cfg = path.join(dir, 'config.yml');
    fs.writeFileSync(cfg, referenceConfig(port, dataDir, opts.referenceYaml, opts.referenceStorage));
    // The Go AWS SDK refuses AWS_CA_BUNDLE with the registry's custom transport; RGW here is plain HTTP anyway.
    const { AWS_CA_BUNDLE: _, ...refEnv } = process.env;
    proc = spawn('docker-registry', ['serve', cfg], { cwd: dir, env: refEnv, stdio: ['ignore', log, log], detached: true });
    label = 'docker-registry (distribution 2.8)';
  } else {
    const workers = opts.workers ?? config.berthWorkers;
    env = berthEnv(port, dataDir, workers, opts.env);
    // cwd is the server's own temp dir so any relative default paths (e.g. a SQLite file) are fresh too.
    const cmd = opts.berthCmd ?? config.berthCmd;
    proc = spawn('/bin/sh', ['-c', `exec ${cmd}`], { cwd: dir, env, stdio: ['ignore', log, log], detached: true });
    label = `berth (${cmd}${workers ? `, workers=${workers}` : ', workers unset'})`;
  }
  fs.closeSync(log);
  const server: Server = { column, kind, env, label, variant: opts.variant, base: `http://127.0.0.1:${port}`, dir, logFile, proc };
  await waitReady(server);
  return server;
}

async function waitReady(s: Server): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (s.proc.exitCode !== null) throw new Error(`${s.column} exited with ${s.proc.exitCode}:\n${logTail(s)}`);
    try {
      const res = await fetch(`${s.base}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`${s.column} did not answer GET /v2/ within 30 s:\n${logTail(s)}`);
}

export function logTail(s: Server, lines = 20): string {
  try {
    return fs.readFileSync(s.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function stopServer(s: Server): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.pid === undefined) return;
  const exited = new Promise((r) => s.proc.once('exit', r));
  try {
    process.kill(-s.proc.pid, 'SIGTERM'); // the server's own process group (spawned detached)
  } catch {
    return;
  }
  const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
  if (timedOut) {
    try {
      process.kill(-s.proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

// ---- /proc accounting, summed over the server's process tree (Berth may fork workers) ----

const CLK_TCK = 100; // USER_HZ on Linux

export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(entry), Number(fields[1]));
    } catch {
      /* process exited while scanning */
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

/** utime+stime of the live process tree, in seconds. */
export function cpuSeconds(s: Server): number {
  return treeCpuSeconds(s.proc.pid!);
}

/** utime+stime, in seconds, of every process whose command name (comm) is one of `names` (e.g. postgres, radosgw). */
export function cpuSecondsByName(names: readonly string[]): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!names.includes(comm)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited while scanning */
    }
  }
  return ticks / CLK_TCK;
}

/** utime+stime of the process tree under `root`, in seconds (e.g. nginx and its worker). */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of stat(5)
    } catch {
      /* gone */
    }
  }
  return ticks / CLK_TCK;
}

export interface Memory {
  rssMiB: number;
  /** Proportional set size: shared pages split between the processes sharing them (fair for worker trees). */
  pssMiB: number;
  hwmMiB: number;
  processes: number;
}

/** VmRSS and VmHWM summed over the process tree (shared pages are counted once per process). */
export function memory(s: Server): Memory {
  return treeMemory(s.proc.pid!);
}

/** Resets VmHWM of every process in the tree (clear_refs 5, Linux ≥ 4.0); false when the kernel refuses. */
export function resetPeak(s: Server): boolean {
  let ok = true;
  for (const pid of processTree(s.proc.pid!)) {
    try {
      fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

export function treeMemory(root: number): Memory {
  let rss = 0;
  let hwm = 0;
  let pss = 0;
  const pids = processTree(root);
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone, or no smaps_rollup */
    }
  }
  return { rssMiB: rss / 1024, pssMiB: pss / 1024, hwmMiB: hwm / 1024, processes: pids.length };
}
