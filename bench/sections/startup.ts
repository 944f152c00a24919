// Start-up: time from spawn to the first answered GET /v2/, and idle memory of a fresh server, on a fresh
// data directory each start (so migrations run, as on a first start). Variants per round, in alternating
// order: Berth by `npm start` (already built; time only: npm's own process would count in the memory),
// Berth by `node dist/main.js serve` with http.workers unset (the default start), 2 and 3 workers (idle
// memory; a further worker's cost is 3 − 2), and the reference.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { config } from '../lib/config.js';
import type { Results } from '../lib/results.js';
import { berthEnv, freePort, type Memory, memory, processTree, referenceConfig, type Server, stopServer } from '../lib/servers.js';

type Variant = 'npm' | 'node' | 'w2' | 'w3' | 'reference';

/** One GET /v2/ on a fresh connection; the status, or 0 when nothing answers yet. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

async function startTimed(v: Variant, dir: string): Promise<{ server: Server; seconds: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'server.log');
  const log = fs.openSync(logFile, 'a');
  const base = `http://127.0.0.1:${port}`;
  let proc: ChildProcess;
  const t0 = performance.now();
  if (v === 'reference') {
    const cfg = path.join(dir, 'config.yml');
    fs.writeFileSync(cfg, referenceConfig(port, dataDir));
    proc = spawn('docker-registry', ['serve', cfg], { cwd: dir, stdio: ['ignore', log, log], detached: true });
  } else {
    const workers = v === 'w2' ? '2' : v === 'w3' ? '3' : '';
    const env = berthEnv(port, dataDir, workers);
    proc =
      v === 'npm'
        ? spawn('npm', ['start', '--silent'], { cwd: config.npmDir, env, stdio: ['ignore', log, log], detached: true })
        : spawn('/bin/sh', ['-c', `exec ${config.berthCmd}`], { cwd: dir, env, stdio: ['ignore', log, log], detached: true });
  }
  fs.closeSync(log);
  const server: Server = {
    column: v === 'reference' ? 'reference' : 'berth',
    kind: v === 'reference' ? 'reference' : 'berth',
    label: v,
    base,
    dir,
    logFile,
    proc,
  };
  for (;;) {
    const status = await probe(`${base}/v2/`);
    if (status === 200 || status === 401) break;
    if (proc.exitCode !== null) throw new Error(`${v} exited with ${proc.exitCode}: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (performance.now() - t0 > 120_000) {
      await stopServer(server);
      throw new Error(`${v} did not answer GET /v2/ within 120 s`);
    }
    await sleep(5);
  }
  return { server, seconds: (performance.now() - t0) / 1000 };
}

/** Waits until `n` processes run in the server's tree (a cluster's workers are up), then the settle time. */
async function settle(s: Server, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (processTree(s.proc.pid!).length < n && Date.now() < deadline) await sleep(50);
  await sleep(config.settleS * 1000);
}

export async function startupSection(workDir: string, res: Results): Promise<void> {
  const variants: Variant[] = ['npm', 'node', 'w2', 'w3', 'reference'];
  console.log(`-- startup: ${config.starts} rounds of ${variants.join(', ')}`);
  for (let round = 0; round < config.starts; round++) {
    const idle: Partial<Record<Variant, Memory>> = {};
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      const col = v === 'reference' ? 'reference' : 'berth';
      const stub = { column: col } as Server;
      await res.guard(stub, 'startup', async () => {
        const { server, seconds } = await startTimed(v, path.join(workDir, 'startup', `${v}-${round}`));
        try {
          if (v === 'npm') {
            res.add(col, 'start_npm', seconds);
            return console.log(`-- startup round ${round + 1} npm start: first answer after ${seconds.toFixed(2)} s`);
          }
          if (v === 'node' || v === 'reference') {
            res.add(col, 'start_node', seconds);
            if (v === 'reference') res.add(col, 'start_npm', seconds);
          }
          await settle(server, v === 'w2' ? 3 : v === 'w3' ? 4 : 1);
          const m = memory(server);
          res.detail(server, `idle_${v}_${round}`, m);
          if (v === 'node' || v === 'reference') {
            res.add(col, 'idle_rss', m.rssMiB);
            res.add(col, 'idle_pss', m.pssMiB);
            res.add(col, 'idle_procs', m.processes);
          }
          if (v === 'reference') {
            // Go runs one process whatever the load; its idle figure stands on the 2-worker rows too.
            res.add(col, 'idle_rss_w2', m.rssMiB);
            res.add(col, 'idle_pss_w2', m.pssMiB);
          }
          if (v === 'w2') {
            res.add(col, 'idle_rss_w2', m.rssMiB);
            res.add(col, 'idle_pss_w2', m.pssMiB);
          }
          idle[v] = m;
          console.log(
            `-- startup round ${round + 1} ${v}: first answer after ${seconds.toFixed(2)} s, idle RSS ${m.rssMiB.toFixed(1)} MiB, PSS ${m.pssMiB.toFixed(1)} MiB, ${m.processes} processes`,
          );
        } finally {
          await stopServer(server);
        }
      });
    }
    if (idle.w2 && idle.w3) {
      res.add('berth', 'worker_rss', idle.w3.rssMiB - idle.w2.rssMiB);
      res.add('berth', 'worker_pss', idle.w3.pssMiB - idle.w2.pssMiB);
    }
  }
  res.note(
    `Start-up: ${config.starts} starts per variant on a fresh data directory each (migrations run), alternating order; time from spawn to the first ` +
      'answer to GET /v2/ (a fresh connection every 5 ms). `npm start` runs in the repository with the same REGISTRY_* settings. ' +
      `Idle memory is read ${config.settleS} s after the first answer (and after a cluster's workers are all up), summed over the process tree.`,
  );
}
