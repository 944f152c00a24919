// nginx from Debian in front of registry replicas, configured from the documented example
// deploy/nginx/berth.conf (as test/helpers/nginx.ts does for the cluster test), with the access log off
// so nginx's own CPU per request is what a production proxy spends.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from './config.js';
import { freePort } from './servers.js';

export const NGINX = '/usr/sbin/nginx';

export interface Nginx {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startNginx(dir: string, upstreams: number[]): Promise<Nginx> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} missing: apt-get install nginx (scripts/install-test-deps.sh)`);
  const port = await freePort();
  fs.mkdirSync(dir, { recursive: true });
  const example = fs.readFileSync(path.join(repoRoot, 'deploy/nginx/berth.conf'), 'utf8');
  const site = example
    .replace(/^\s*# @UPSTREAMS@.*\n(\s*server 127\.0\.0\.1:\d+.*\n)+/m, upstreams.map((p) => `    server 127.0.0.1:${p};\n`).join(''))
    .replace(/listen \d+;\s*# @LISTEN@/, `listen 127.0.0.1:${port};`);
  if (!site.includes(`listen 127.0.0.1:${port};`)) throw new Error('deploy/nginx/berth.conf no longer has the @UPSTREAMS@/@LISTEN@ markers');
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
      `  include ${dir}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const log = fs.openSync(path.join(dir, 'nginx.log'), 'a');
  const proc = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGQUIT');
    await Promise.race([exited, sleep(5000)]);
  };
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      await r.arrayBuffer();
      if (r.status === 200 || r.status === 401) break;
    } catch {
      /* not listening yet */
    }
    if (proc.exitCode !== null || i > 300) {
      await stop();
      const err = path.join(dir, 'error.log');
      throw new Error(`nginx did not start: ${fs.existsSync(err) ? fs.readFileSync(err, 'utf8') : ''}`);
    }
    await sleep(100);
  }
  return { url, proc, stop };
}
