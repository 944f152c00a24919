// The access log (src/http/access-log.ts): one line per request, the same JSON that pino wrote for
// it before (so what reads the logs keeps working), written in batches: every line of a server that
// is stopped is in its log, and a line reaches the log without more traffic after it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { registerAccessLog } from '../../src/http/access-log.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { sleep, tempDir } from '../helpers/shared.js';

type Line = Record<string, unknown>;

function requestLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.msg === 'request');
}

describe('access log lines', () => {
  it('are the JSON pino writes for the same request, field for field and in order', async () => {
    const ours: string[] = [];
    const discard = new Writable({ write: (_chunk, _enc, cb) => cb() });
    const app = Fastify({ logger: { level: 'info', stream: discard } });
    app.get('/v2/*', async (req, reply) => {
      if (req.headers['x-user']) req.user = String(req.headers['x-user']);
      return reply.code(req.url.includes('missing') ? 404 : 200).send('{}');
    });
    const fields = { service: 'berth', zone: 'eu-1', weight: 3 };
    registerAccessLog(app, { fields, out: { write: (l: string) => ours.push(l), flush: () => {} } });
    await app.ready();
    const requests = [
      { url: '/v2/a/b/manifests/latest?ns=docker.io', headers: {} },
      { url: '/v2/missing/name/tags/list', headers: { 'x-user': 'alice "the admin"' } },
    ];
    const theirs: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        theirs.push(String(chunk));
        cb();
      },
    });
    const log = pino({ level: 'info', base: fields }, sink);
    for (const r of requests) {
      const res = await app.inject({ method: 'GET', url: r.url, headers: r.headers });
      // What app.ts wrote through request.log before.
      log.child({ reqId: 'req-1' }).info({ method: 'GET', url: r.url.split('?')[0], status: res.statusCode, ms: 0, user: r.headers['x-user'] }, 'request');
    }
    await app.close();
    assert.equal(ours.length, 2);
    for (let i = 0; i < ours.length; i++) {
      assert.ok(ours[i].endsWith('}\n'), 'one line each');
      const a = JSON.parse(ours[i]) as Line;
      const b = JSON.parse(theirs[i]) as Line;
      for (const l of [a, b]) {
        assert.equal(typeof l.time, 'number');
        l.time = 0;
        assert.equal(typeof l.ms, 'number');
        l.ms = 0;
        l.reqId = 'id';
      }
      assert.deepEqual(Object.entries(a), Object.entries(b), `line ${i + 1}`);
    }
  });
});

describe('access log of a running server', () => {
  let s: RegistryProcess;

  before(async () => {
    s = await startBerth({ root: tempDir('access-log'), env: { REGISTRY_LOG_LEVEL: 'info' }, name: 'access-log' });
  });

  after(async () => {
    await s?.dispose();
  });

  it('a line reaches the log without traffic after it, and a stop leaves every line in it', async () => {
    const before = requestLines(fs.readFileSync(s.logFile, 'utf8')).length;
    const res = await fetch(`${s.url}/v2/some/repo/manifests/first?x=1`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    // Written within FLUSH_MS, though nothing else happens: polled, nothing timed.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const lines = requestLines(fs.readFileSync(s.logFile, 'utf8'));
      if (lines.some((l) => l.url === '/v2/some/repo/manifests/first')) break;
      assert.ok(Date.now() < deadline, `no access line for the request; log has ${lines.length - before} new lines`);
      await sleep(20);
    }
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${s.url}/v2/some/repo/blobs/sha256:${'0'.repeat(64)}?n=${i}`, { method: 'HEAD' });
      await r.arrayBuffer();
    }
    await s.stop();
    const lines = requestLines(fs.readFileSync(s.logFile, 'utf8'));
    const heads = lines.filter((l) => l.method === 'HEAD');
    assert.equal(heads.length, 300, 'one line per request, all of them written by the time the server stopped');
    assert.ok(heads.every((l) => l.status === 404 && l.url === `/v2/some/repo/blobs/sha256:${'0'.repeat(64)}`));
  });
});
