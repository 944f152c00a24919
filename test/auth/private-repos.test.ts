// Private repositories are invisible: to an outsider and to anonymous callers,
// every registry endpoint answers for a private repository exactly as it does
// for one that never existed. Members, collaborators, teams and robots see what
// their permission allows, and no more.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { MT, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, TokenClient, accountsOf } from '../helpers/token-client.js';

let server: TestServer;
let accounts: Awaited<ReturnType<typeof accountsOf>>;
let alice: TokenClient;
let secret: { manifest: string; config: string; layer: string };
let referrer: string;
const pw = (u: string) => `${u}-password-1`;

async function addUser(name: string): Promise<void> {
  await accounts.service.createUser({ username: name, password: pw(name) }, { actor: 'test', action: 'user.create', target: name });
}

async function setVisibility(name: string, v: 'public' | 'private'): Promise<void> {
  const repo = (await accounts.stores.repositories.repository(name))!;
  await accounts.meta.transaction((tx) => accounts.stores.repositories.setVisibility(tx, repo.id, v));
}

before(async () => {
  server = await startServer({ config: TOKEN_AUTH });
  accounts = await accountsOf(server);
  for (const u of ['alice', 'bob', 'carol', 'dave']) await addUser(u);
  alice = new TokenClient(server.url, { user: 'alice', password: pw('alice') });
  secret = await alice.pushImage('alice/secret', 'v1');
  // A referrer (signature-like artifact) of the private image.
  const sig = await alice.pushImage('alice/secret', 'sig', {
    artifactType: 'application/vnd.example.sig',
    subject: { mediaType: MT.ociManifest, digest: secret.manifest, size: 1 },
  });
  referrer = sig.manifest;
  await alice.pushImage('alice/open', 'v1');
  await setVisibility('alice/open', 'public');
});

after(async () => {
  await accounts.close();
  await server.close();
  removeDir(server.dir);
});

interface Seen {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** The parts of a response a caller could learn from, with the repository name made generic. */
async function observe(client: TokenClient, method: string, path: string, name: string): Promise<Seen> {
  const res = await client.fetch(path, { method });
  const text = (await res.text()).split(name).join('<repo>');
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'docker-content-digest', 'location', 'www-authenticate', 'content-length', 'range']) {
    const v = res.headers.get(h);
    if (v !== null)
      headers[h] =
        h === 'location'
          ? v
              .replace(/uploads\/[^?]+/, 'uploads/<id>')
              .split(name)
              .join('<repo>')
          : v.split(name).join('<repo>');
  }
  return { status: res.status, body: text, headers };
}

function requests(name: string): [string, string][] {
  return [
    ['GET', `/v2/${name}/manifests/v1`],
    ['HEAD', `/v2/${name}/manifests/v1`],
    ['GET', `/v2/${name}/manifests/${secret.manifest}`],
    ['HEAD', `/v2/${name}/manifests/${secret.manifest}`],
    ['GET', `/v2/${name}/blobs/${secret.layer}`],
    ['HEAD', `/v2/${name}/blobs/${secret.config}`],
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/referrers/${secret.manifest}`],
    ['DELETE', `/v2/${name}/manifests/${secret.manifest}`],
    ['DELETE', `/v2/${name}/blobs/${secret.layer}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['PUT', `/v2/${name}/manifests/v2`],
  ];
}

for (const who of ['anonymous', 'bob'] as const) {
  describe(`as ${who}, a private repository looks exactly like a missing one`, () => {
    const client = () => new TokenClient(server.url, who === 'bob' ? { user: 'bob', password: pw('bob') } : undefined);

    it('on every /v2 endpoint: same status, error body and headers', async () => {
      for (const [method, path] of requests('alice/secret')) {
        const c = client();
        const priv = await observe(c, method, path, 'alice/secret');
        const ghost = await observe(client(), method, path.replace('alice/secret', 'alice/nosuch'), 'alice/nosuch');
        assert.deepEqual(priv, ghost, `${method} ${path}`);
        assert.ok(priv.status === 401 || priv.status === 404, `${method} ${path} answered ${priv.status}`);
        assert.ok(!priv.body.includes(secret.layer.slice(7, 20)) || path.includes(secret.layer), 'no digest of the private content leaks');
      }
    });

    it('tokens carry no access to it', async () => {
      const token = await client().tokenFor(['repository:alice/secret:pull,push,delete', 'repository:alice/nosuch:pull']);
      assert.deepEqual((decodeJwt(token) as any).access, []);
    });

    it('the catalog lists the public repository but not the private one', async () => {
      const res = await client().fetch('/v2/_catalog');
      assert.equal(res.status, 200);
      const { repositories } = (await res.json()) as { repositories: string[] };
      assert.ok(repositories.includes('alice/open'));
      assert.ok(!repositories.includes('alice/secret'));
    });

    it('the public repository is pullable', async () => {
      const res = await client().fetch('/v2/alice/open/manifests/v1');
      assert.equal(res.status, 200);
    });
  });
}

describe('mounts', () => {
  it('a private blob cannot be mounted by an outsider (a new session, as for a missing source)', async () => {
    const bob = new TokenClient(server.url, { user: 'bob', password: pw('bob') });
    const priv = await observe(bob, 'POST', `/v2/bob/steal/blobs/uploads/?mount=${secret.layer}&from=alice/secret`, 'alice/secret');
    const ghost = await observe(bob, 'POST', `/v2/bob/steal/blobs/uploads/?mount=${secret.layer}&from=alice/nosuch`, 'alice/nosuch');
    assert.equal(priv.status, 202, 'no 201: nothing was mounted');
    assert.deepEqual({ ...priv, headers: { ...priv.headers, location: '' } }, { ...ghost, headers: { ...ghost.headers, location: '' } });
    const head = await bob.fetch(`/v2/bob/steal/blobs/${secret.layer}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('the owner mounts between its own repositories', async () => {
    // Like docker, ask for the source's pull scope along with the target's.
    const token = await alice.tokenFor(['repository:alice/copy:pull,push', 'repository:alice/secret:pull']);
    const res = await fetch(`${server.url}/v2/alice/copy/blobs/uploads/?mount=${secret.layer}&from=alice/secret`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 201);
    const onlyTarget = await alice.tokenFor(['repository:alice/copy2:pull,push']);
    const res2 = await fetch(`${server.url}/v2/alice/copy2/blobs/uploads/?mount=${secret.layer}&from=alice/secret`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${onlyTarget}` },
    });
    assert.equal(res2.status, 202, 'without pull on the source in the token, no mount');
  });
});

describe('who may see and do what', () => {
  it('the owner reads its private repository, its tags, referrers and catalog entry', async () => {
    assert.equal((await alice.fetch('/v2/alice/secret/manifests/v1')).status, 200);
    const refs = (await (await alice.fetch(`/v2/alice/secret/referrers/${secret.manifest}`)).json()) as any;
    assert.deepEqual(
      refs.manifests.map((m: any) => m.digest),
      [referrer],
    );
    const cat = (await (await alice.fetch('/v2/_catalog')).json()) as any;
    assert.ok(cat.repositories.includes('alice/secret'));
  });

  it('a read collaborator pulls but cannot push or delete', async () => {
    const repo = (await accounts.stores.repositories.repository('alice/secret'))!;
    const bobRow = (await accounts.stores.users.userByName('bob'))!;
    await accounts.meta.transaction((tx) => accounts.stores.repositories.setCollaborator(tx, repo.id, bobRow.id, 'read'));
    const bob = new TokenClient(server.url, { user: 'bob', password: pw('bob') });
    assert.equal((await bob.fetch('/v2/alice/secret/manifests/v1')).status, 200);
    const push = await bob.fetch('/v2/alice/secret/blobs/uploads/', { method: 'POST' });
    assert.equal(push.status, 401);
    assert.equal(((await push.json()) as any).errors[0].code, 'DENIED');
    assert.equal((await bob.fetch(`/v2/alice/secret/manifests/${secret.manifest}`, { method: 'DELETE' })).status, 401);
    const cat = (await (await bob.fetch('/v2/_catalog')).json()) as any;
    assert.ok(cat.repositories.includes('alice/secret'), 'collaborators see it in the catalog');
    await accounts.meta.transaction((tx) => accounts.stores.repositories.removeCollaborator(tx, repo.id, bobRow.id));
    assert.equal((await new TokenClient(server.url, { user: 'bob', password: pw('bob') }).fetch('/v2/alice/secret/manifests/v1')).status, 401);
  });

  it('organisations: owners push, team permissions apply, plain members read, robots act through teams', async () => {
    const now = Date.now();
    const { users, orgs } = accounts.stores;
    const ids = Object.fromEntries(await Promise.all(['alice', 'carol', 'dave'].map(async (u) => [u, (await users.userByName(u))!.id])));
    const orgId = await accounts.meta.transaction(async (tx) => {
      assert.ok(await users.claimNamespace(tx, 'acme', 'org', now));
      const id = await orgs.createOrg(tx, 'acme', now);
      await orgs.setMember(tx, id, ids.alice, 'owner');
      await orgs.setMember(tx, id, ids.carol, 'member');
      return id;
    });
    const owner = new TokenClient(server.url, { user: 'alice', password: pw('alice') });
    await owner.pushImage('acme/app', 'v1');

    const carol = new TokenClient(server.url, { user: 'carol', password: pw('carol') });
    assert.equal((await carol.fetch('/v2/acme/app/manifests/v1')).status, 200, 'members read');
    assert.equal((await carol.fetch('/v2/acme/app/blobs/uploads/', { method: 'POST' })).status, 401, 'members do not write');

    const dave = new TokenClient(server.url, { user: 'dave', password: pw('dave') });
    assert.equal((await dave.fetch('/v2/acme/app/manifests/v1')).status, 401, 'outsiders see nothing');

    const teamId = await accounts.meta.transaction(async (tx) => {
      const t = await orgs.createTeam(tx, orgId, 'builders', 'write', now);
      await orgs.addTeamMember(tx, t, ids.dave);
      return t;
    });
    const dave2 = new TokenClient(server.url, { user: 'dave', password: pw('dave') });
    await dave2.pushImage('acme/app', 'v2');
    assert.equal((await dave2.fetch(`/v2/acme/app/manifests/v2`, { method: 'DELETE' })).status, 401, 'write is not delete');

    const robot = await accounts.service.createRobot(orgId, 'acme', 'ci', { actor: 'alice', action: 'robot.create' });
    assert.equal(robot.user.username, 'acme+ci');
    const bot = new TokenClient(server.url, { user: 'acme+ci', password: robot.secret });
    assert.equal((await bot.fetch('/v2/acme/app/manifests/v1')).status, 401, 'a robot has no access until granted');
    await accounts.meta.transaction((tx) => orgs.addTeamMember(tx, teamId, robot.user.id));
    const bot2 = new TokenClient(server.url, { user: 'acme+ci', password: robot.secret });
    await bot2.pushImage('acme/app', 'ci');
    assert.equal((await bot2.fetch('/v2/alice/secret/manifests/v1')).status, 401, 'nothing outside its grants');
    const badRobot = await new TokenClient(server.url, { user: 'acme+ci', password: 'not-the-secret' }).tokenResponse([]);
    assert.equal(badRobot.status, 401);
  });

  it('nobody can push into a namespace nobody owns, except an admin', async () => {
    const bob = new TokenClient(server.url, { user: 'bob', password: pw('bob') });
    assert.equal((await bob.fetch('/v2/unclaimed/app/blobs/uploads/', { method: 'POST' })).status, 401);
    const admin = new TokenClient(server.url, { user: 'admin', password: 'admin-password-1' });
    await admin.pushImage('unclaimed/app', 'v1');
    assert.equal((await admin.fetch('/v2/alice/secret/manifests/v1')).status, 200, 'admins read everything');
  });
});

describe('audit', () => {
  it('records registry deletes with the actor, and token issues, without secrets', async () => {
    const img = await alice.pushImage('alice/gone', 'v1');
    const del = await alice.fetch(`/v2/alice/gone/manifests/${img.manifest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const log = await accounts.stores.audit.list(200);
    assert.ok(log.some((e) => e.action === 'manifest.delete' && e.actor === 'alice' && e.target === `alice/gone@${img.manifest}`));
    assert.ok(log.some((e) => e.action === 'token.issue' && e.actor === 'alice'));
    assert.ok(!JSON.stringify(log).includes(pw('alice')), 'no password in the audit log');
  });
});

describe('names are not recycled while repositories live under them', () => {
  it('a deleted user’s name cannot be registered again to take over its private repositories', async () => {
    await addUser('frank');
    const frank = new TokenClient(server.url, { user: 'frank', password: pw('frank') });
    await frank.pushImage('frank/private', 'v1');
    const row = (await accounts.stores.users.userByName('frank'))!;
    await accounts.meta.transaction((tx) => accounts.stores.users.deleteUser(tx, row.id));
    await assert.rejects(addUser('frank'), /already taken/);
    const admin = new TokenClient(server.url, { user: 'admin', password: 'admin-password-1' });
    assert.equal((await admin.fetch('/v2/frank/private/manifests/v1')).status, 200, 'the repository is still there, for admins');
  });
});
