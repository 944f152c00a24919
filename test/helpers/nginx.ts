// nginx as the cluster test's load balancer, configured from the documented example
// deploy/nginx/berth.conf: only the upstream servers and the listen port are replaced.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './berth-process.js';
import { REPO_ROOT, sleep } from './shared.js';

export interface Nginx {
  port: number;
  url: string;
  hostPort: string;
  /** Access log lines: "<method> <uri> <status> <upstream addr>". */
  accessLog(): string[];
  stop(): Promise<void>;
}

const NGINX = '/usr/sbin/nginx';

export async function startNginx(dir: string, upstreams: number[]): Promise<Nginx> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} missing: apt-get install nginx (scripts/install-test-deps.sh)`);
  const port = await freePort();
  const example = fs.readFileSync(path.join(REPO_ROOT, 'deploy/nginx/berth.conf'), 'utf8');
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n');
  const site = example
    .replace(/^\s*# @UPSTREAMS@.*\n(\s*server 127\.0\.0\.1:\d+.*\n)+/m, `${servers}\n`)
    .replace(/listen \d+;\s*# @LISTEN@/, `listen 127.0.0.1:${port};`);
  if (site === example || !site.includes(`listen 127.0.0.1:${port};`))
    throw new Error('deploy/nginx/berth.conf no longer has the @UPSTREAMS@/@LISTEN@ markers');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'site.conf'), site);
  const log = path.join(dir, 'access.log');
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 2;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  log_format berth '$request_method $uri $status $upstream_addr';`,
      `  access_log ${log} berth;`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/tmp/${t};`),
      `  include ${dir}/site.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/healthz`);
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || i > 100)
      throw new Error(`nginx did not start: ${fs.existsSync(`${dir}/error.log`) ? fs.readFileSync(`${dir}/error.log`, 'utf8') : ''}`);
    await sleep(100);
  }
  return {
    port,
    url,
    hostPort: `127.0.0.1:${port}`,
    accessLog: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGQUIT');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
