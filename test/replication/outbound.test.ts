// Remote registries are user-supplied destinations: a remote whose name resolves to an internal
// address is refused when connecting (nothing is sent) unless replication.allow names it; a
// literal internal address is refused when the policy is saved (test/replication/store.test.ts).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { removeDir, type TestServer } from '../helpers/api-server.js';
import { createPolicy, replicationOf, startReplicating } from './helpers.js';

describe('replication and the outbound policy', () => {
  let s: TestServer;
  let allowed: TestServer;
  let remote: http.Server;
  let port: number;
  let requests = 0;
  before(async () => {
    remote = http.createServer((_req, res) => {
      requests++;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
    port = (remote.address() as AddressInfo).port;
    s = await startReplicating({ config: { replication: { allow: [] } } });
    allowed = await startReplicating({ config: { replication: { allow: [`localhost:${port}`] } } });
  });
  after(async () => {
    await Promise.all([s?.close(), allowed?.close()]);
    for (const x of [s, allowed]) if (x) removeDir(x.dir);
    remote?.close();
  });

  it('a remote named by a host that resolves to loopback is refused when connecting; nothing reaches it', async () => {
    const p = await createPolicy(s, { name: 'sneaky', direction: 'pull', remoteUrl: `http://localhost:${port}`, repositories: ['a/b'], trigger: 'manual' });
    const run = await replicationOf(s).runner.runAndWait(p.id);
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), /loopback/);
    assert.equal(requests, 0);
  });

  it('replication.allow opens it', async () => {
    const p = await createPolicy(allowed, {
      name: 'named',
      direction: 'pull',
      remoteUrl: `http://localhost:${port}`,
      repositories: ['a/b'],
      trigger: 'manual',
    });
    const run = await replicationOf(allowed).runner.runAndWait(p.id);
    // The remote answers 404 for the tag list: nothing to copy, but it was reached.
    assert.deepEqual([run.status, run.error, run.copied], ['succeeded', null, 0], JSON.stringify(run));
    assert.ok(requests > 0);
  });
});
