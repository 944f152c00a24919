// The metadata conformance suite: the same cases against every backend (sqlite.test.ts,
// postgres.test.ts). Store operations the registry relies on, values coming back as
// numbers, and concurrent writers from two MetadataDb instances (two replicas, or two
// worker processes on one SQLite file) racing on the same rows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RegistryError } from '../../src/errors/catalog.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { accountStores, type AccountStores } from '../../src/metadata/accounts/index.js';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { parseDigest } from '../../src/oci/digest.js';
import { BlobGuard } from '../../src/gc/blob-guard.js';
import { GcStore } from '../../src/metadata/gc-store.js';
import { BlobService } from '../../src/registry/blobs.js';
import { ManifestCache } from '../../src/registry/manifest-cache.js';
import { ManifestService } from '../../src/registry/manifests.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { blobKey } from '../../src/storage/layout.js';

export interface BackendLocation {
  /** Opens one more MetadataDb on this database (another replica). */
  open(): Promise<MetadataDb>;
  /** Removes the database (after every instance is closed). */
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** An empty database (nothing migrated yet). */
  fresh(): Promise<BackendLocation>;
  /** Transactions retried so far (PostgreSQL), for the diagnostics. */
  retries?(): number;
  /**
   * SQLite: the "two replicas" are one instance. better-sqlite3 waits for a lock held by
   * another connection synchronously (busy_timeout), which in one process blocks the event
   * loop that would release it; between processes that wait is what serialises writers.
   */
  oneProcessOneInstance?: boolean;
}

const now0 = 1_700_000_000_000;
const digest = (s: string | Buffer) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const uniq = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

export function metadataSuite(backend: Backend): void {
  describe(`metadata on ${backend.name}`, () => {
    let loc: BackendLocation;
    let a: MetadataDb;
    let b: MetadataDb;
    let rs: RegistryStore;
    let rsB: RegistryStore;
    let acc: AccountStores;
    let accB: AccountStores;

    before(async () => {
      loc = await backend.fresh();
      a = await loc.open();
      b = backend.oneProcessOneInstance ? a : await loc.open();
      rs = new RegistryStore(a);
      rsB = new RegistryStore(b);
      acc = accountStores(a);
      accB = accountStores(b);
    });
    after(async () => {
      await a?.close();
      if (b !== a) await b?.close();
      await loc?.cleanup();
    });

    /** A repository with a blob linked and a manifest referencing it; returns ids. */
    async function seed(store: RegistryStore, repo: string, tag?: string) {
      const blob = digest(uniq('blob'));
      const man = digest(uniq('manifest'));
      return store.meta.transaction(async (tx) => {
        const repoId = await store.ensureRepository(tx, repo, now0);
        await store.recordBlob(tx, blob, 123, now0);
        await store.linkBlob(tx, repoId, blob, now0);
        const id = await store.putManifest(
          tx,
          repoId,
          { digest: man, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 456, blobDigests: [blob], childDigests: [] },
          now0,
        );
        if (tag) await store.setTag(tx, repoId, tag, { id, digest: man }, now0);
        return { repoId, blob, man, id };
      });
    }

    describe('migrations', () => {
      it('reports its dialect and reopening an existing database migrates nothing twice', async () => {
        assert.equal(a.dialect, backend.name);
        const c = await loc.open();
        const rows = await c.db
          .selectFrom('berth_migrations' as any)
          .select('name' as any)
          .execute();
        await c.close();
        const names = rows.map((r: any) => r.name);
        assert.deepEqual(names, [...new Set(names)].sort());
        assert.ok(names.includes('0001_registry_core') && names.includes('0002_accounts'));
      });

      it('several instances starting at once on an empty database migrate it once', async () => {
        const l = await backend.fresh();
        try {
          const dbs: MetadataDb[] = [];
          if (backend.oneProcessOneInstance) for (let i = 0; i < 4; i++) dbs.push(await l.open());
          else dbs.push(...(await Promise.all(Array.from({ length: 4 }, () => l.open()))));
          const rows = await dbs[0].db
            .selectFrom('berth_migrations' as any)
            .select('name' as any)
            .execute();
          assert.equal(rows.length, new Set(rows.map((r: any) => r.name)).size);
          const s = new RegistryStore(dbs[3]);
          await s.meta.transaction((tx) => s.ensureRepository(tx, 'after/migrate', now0));
          assert.equal(typeof (await s.repositoryId('after/migrate')), 'number');
          await Promise.all(dbs.map((d) => d.close()));
        } finally {
          await l.cleanup();
        }
      });
    });

    describe('transactions', () => {
      it('returns the function result and commits', async () => {
        const name = uniq('tx/commit');
        const id = await a.transaction((tx) => rs.ensureRepository(tx, name, now0));
        assert.equal(await rsB.repositoryId(name), id);
      });

      it('rolls back everything when the function throws', async () => {
        const name = uniq('tx/rollback');
        await assert.rejects(
          a.transaction(async (tx) => {
            await rs.ensureRepository(tx, name, now0);
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal(await rs.repositoryId(name), null);
      });

      it('non-durable transactions commit too', async () => {
        const name = uniq('tx/nondurable');
        await a.transaction((tx) => rs.ensureRepository(tx, name, now0), { durable: false });
        assert.notEqual(await rsB.repositoryId(name), null);
      });
    });

    describe('registry store', () => {
      it('repositories: ensure is idempotent, ids are numbers, listing needs a manifest and sorts bytewise', async () => {
        const p = uniq('list');
        const id1 = await a.transaction((tx) => rs.ensureRepository(tx, `${p}/x`, now0));
        const id2 = await b.transaction((tx) => rsB.ensureRepository(tx, `${p}/x`, now0));
        assert.equal(typeof id1, 'number');
        assert.equal(id1, id2);
        const names = [`${p}/a-b`, `${p}/a.b`, `${p}/a_b`, `${p}/ab`, `${p}/a/b`, `${p}/Ab`, `${p}/a0`];
        for (const n of names) await seed(rs, n);
        const listed = (await rs.listRepositories(1000)).filter((n) => n.startsWith(`${p}/`));
        assert.deepEqual(listed, [...names].sort(), 'byte order, and no repository without manifests');
        // pagination resumes after `last` in the same order
        const sorted = [...names].sort();
        const page = (await rs.listRepositories(2, sorted[2])).filter((n) => n.startsWith(`${p}/`));
        assert.deepEqual(page, sorted.slice(3, 5));
      });

      it('blobs: record, link, size as a number (beyond 4 GiB), missing, unlink queues a review', async () => {
        const repo = uniq('blobs/r');
        const big = 6 * 1024 ** 3 + 7;
        const d1 = digest(uniq('b1'));
        const d2 = digest(uniq('b2'));
        const repoId = await a.transaction(async (tx) => {
          const id = await rs.ensureRepository(tx, repo, now0);
          await rs.recordBlob(tx, d1, big, now0);
          await rs.recordBlob(tx, d1, 1, now0); // first size wins
          await rs.linkBlob(tx, id, d1, now0);
          await rs.linkBlob(tx, id, d1, now0);
          return id;
        });
        assert.equal(await rsB.repositoryBlobSize(repo, d1), big);
        assert.equal(await rsB.repositoryBlobSize(repo, d2), null);
        assert.equal(await rsB.repositoryBlobSize(uniq('other'), d1), null);
        assert.deepEqual(await b.transaction((tx) => rsB.missingBlobs(tx, repoId, [d1, d2, d2])), [d2, d2]);
        assert.equal(await a.transaction((tx) => rs.unlinkBlob(tx, repoId, d1, now0 + 5)), true);
        assert.equal(await a.transaction((tx) => rs.unlinkBlob(tx, repoId, d1, now0 + 6)), false);
        const review = await a.db.selectFrom('gc_blob_review').selectAll().where('digest', '=', d1).executeTakeFirstOrThrow();
        assert.equal(Number(review.review_after), now0 + 5);
      });

      it('manifests: references, lookups by digest and tag, tag history, delete', async () => {
        const repo = uniq('man/r');
        const s = await seed(rs, repo, 'v1');
        const byTag = await rsB.manifestByTag(repo, 'v1');
        assert.deepEqual(byTag, { id: s.id, digest: s.man, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 456 });
        assert.deepEqual(await rsB.manifestByDigest(repo, s.man), byTag);
        assert.equal(await rsB.manifestByTag(repo, 'nope'), null);
        // the same manifest again returns the same id, and references are not duplicated
        const again = await a.transaction((tx) =>
          rs.putManifest(tx, s.repoId, { digest: s.man, mediaType: 'x', size: 1, blobDigests: [s.blob, s.blob], childDigests: [] }, now0),
        );
        assert.equal(again, s.id);
        const refs = await a.db.selectFrom('manifest_references').selectAll().where('manifest_id', '=', s.id).execute();
        assert.deepEqual(
          refs.map((r) => [r.digest, r.kind]),
          [[s.blob, 'blob']],
        );
        // an index referencing the manifest
        const index = digest(uniq('index'));
        assert.deepEqual(await a.transaction((tx) => rs.missingManifests(tx, s.repoId, [s.man, index])), [index]);
        const indexId = await a.transaction((tx) =>
          rs.putManifest(
            tx,
            s.repoId,
            { digest: index, mediaType: 'application/vnd.oci.image.index.v1+json', size: 99, blobDigests: [], childDigests: [s.man] },
            now0,
          ),
        );
        // tags: set (twice to the same is a no-op), move, list in order, delete
        await a.transaction(async (tx) => {
          await rs.setTag(tx, s.repoId, 'v1', { id: s.id, digest: s.man }, now0 + 1);
          await rs.setTag(tx, s.repoId, 'latest', { id: s.id, digest: s.man }, now0 + 2);
          await rs.setTag(tx, s.repoId, 'latest', { id: indexId, digest: index }, now0 + 3, { actor: 'alice' });
          await rs.setTag(tx, s.repoId, 'a-b', { id: s.id, digest: s.man }, now0 + 4);
          await rs.setTag(tx, s.repoId, 'a.b', { id: s.id, digest: s.man }, now0 + 4);
          await rs.setTag(tx, s.repoId, 'A', { id: s.id, digest: s.man }, now0 + 4);
        });
        assert.deepEqual(await rsB.listTags(s.repoId, 100), ['A', 'a-b', 'a.b', 'latest', 'v1']);
        assert.deepEqual(await rsB.listTags(s.repoId, 2, 'a-b'), ['a.b', 'latest']);
        assert.equal((await rsB.manifestByTag(repo, 'latest'))?.digest, index);
        const history = await a.db
          .selectFrom('tag_history')
          .select(['name', 'previous_digest', 'digest', 'actor', 'action', 'at'])
          .where('repository_id', '=', s.repoId)
          .where('name', 'in', ['v1', 'latest'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          history.map((h) => [h.name, h.previous_digest, h.digest, h.actor, h.action, h.at]),
          [
            ['v1', null, s.man, null, 'push', now0],
            ['latest', null, s.man, null, 'push', now0 + 2],
            ['latest', s.man, index, 'alice', 'push', now0 + 3],
          ],
        );
        assert.equal(typeof history[0].at, 'number', 'bigint columns come back as numbers');
        assert.equal(await a.transaction((tx) => rs.deleteTag(tx, s.repoId, 'latest', now0 + 5, { actor: 'bob' })), true);
        assert.equal(await a.transaction((tx) => rs.deleteTag(tx, s.repoId, 'latest', now0 + 6)), false);
        // deleting the manifest removes its tags and references and queues its blobs
        assert.equal(await b.transaction((tx) => rsB.deleteManifest(tx, s.repoId, s.man, now0 + 7)), true);
        assert.equal(await b.transaction((tx) => rsB.deleteManifest(tx, s.repoId, s.man, now0 + 8)), false);
        assert.equal(await rs.manifestByTag(repo, 'v1'), null);
        assert.deepEqual(await rs.listTags(s.repoId, 100), []);
        assert.equal((await a.db.selectFrom('manifest_references').select('digest').where('manifest_id', '=', s.id).execute()).length, 0);
        const queued = await a.db.selectFrom('gc_blob_review').select('digest').where('digest', 'in', [s.man, s.blob]).execute();
        assert.equal(queued.length, 2);
        const deletions = await a.db
          .selectFrom('tag_history')
          .select(['name', 'previous_digest', 'actor', 'action'])
          .where('repository_id', '=', s.repoId)
          .where('digest', 'is', null)
          .orderBy('id')
          .execute();
        assert.deepEqual(deletions.map((d) => d.name).sort(), ['A', 'a-b', 'a.b', 'latest', 'v1']);
        // Each delete names what the tag pointed at and who deleted it.
        assert.deepEqual(
          deletions.map((d) => [d.name, d.previous_digest, d.actor, d.action]).find((d) => d[0] === 'latest'),
          ['latest', index, 'bob', 'delete'],
        );
        assert.ok(deletions.filter((d) => d.name !== 'latest').every((d) => d.previous_digest === s.man && d.action === 'delete'));
      });

      it('referrers: by subject, filtered by artifact type, sizes as numbers', async () => {
        const repo = uniq('ref/r');
        const s = await seed(rs, repo);
        const mk = (artifactType: string | undefined, annotations?: Record<string, string>) =>
          a.transaction(async (tx) => {
            const d = digest(uniq('referrer'));
            await rs.putManifest(
              tx,
              s.repoId,
              {
                digest: d,
                mediaType: 'application/vnd.oci.image.manifest.v1+json',
                size: 5_000_000_000,
                artifactType,
                subjectDigest: s.man,
                annotations,
                blobDigests: [],
                childDigests: [],
              },
              now0,
            );
            return d;
          });
        const r1 = await mk('application/x-sig', { k: 'v' });
        const r2 = await mk('application/x-sbom');
        const all = await rsB.referrers(repo, s.man);
        assert.deepEqual(
          all.map((r) => r.digest),
          [r1, r2],
        );
        assert.equal(all[0].size, 5_000_000_000);
        assert.deepEqual(JSON.parse(all[0].annotations!), { k: 'v' });
        assert.deepEqual(
          (await rsB.referrers(repo, s.man, 'application/x-sbom')).map((r) => r.digest),
          [r2],
        );
        assert.deepEqual(await rsB.referrers(uniq('other'), s.man), []);
      });

      it('uploads: create, exists per repository, one claim at a time, stale, delete once', async () => {
        const repo = uniq('up/r');
        const id = randomBytes(16).toString('hex');
        const repoId = await a.transaction(
          async (tx) => {
            const rid = await rs.ensureRepository(tx, repo, now0);
            await rs.createUpload(tx, id, rid, now0);
            return rid;
          },
          { durable: false },
        );
        assert.equal(await rsB.uploadExists(repo, id), true);
        assert.equal(await rsB.uploadExists(uniq('other'), id), false);
        assert.ok((await rsB.staleUploads(now0 + 1, 100_000)).includes(id));
        // Two instances claim the session at once: exactly one wins.
        const claims = (await Promise.all([rs.claimUpload(repo, id, 'ta', now0, now0 + 100), rsB.claimUpload(repo, id, 'tb', now0, now0 + 100)])).map(
          (c) => c !== false && c !== null,
        );
        assert.deepEqual([...claims].sort(), [false, true]);
        const [winner, loser] = claims[0] ? ['ta', 'tb'] : ['tb', 'ta'];
        assert.equal(await rs.claimUpload(uniq('other'), id, 'tc', now0, now0 + 100), null, 'no such session in that repository');
        assert.equal(await rsB.renewUpload(id, loser, now0 + 200), false);
        assert.equal(await rsB.renewUpload(id, winner, now0 + 200), true);
        assert.equal(await rs.claimUpload(repo, id, 'tc', now0 + 150, now0 + 300), false, 'the renewed claim still holds');
        // An expired claim (its holder died) can be taken over; the old holder's renewal then fails.
        // A claim names the session's repository.
        assert.deepEqual(await rs.claimUpload(repo, id, 'td', now0 + 201, now0 + 300), { repositoryId: repoId });
        assert.equal(await rsB.renewUpload(id, winner, now0 + 400), false);
        await rsB.releaseUpload(id, winner, now0 + 50); // a lost claim's release changes nothing
        assert.equal(await rs.claimUpload(repo, id, 'te', now0 + 250, now0 + 300), false);
        await rsB.releaseUpload(id, 'td', now0 + 10);
        assert.deepEqual(await rs.claimUpload(repo, id, 'tf', now0 + 250, now0 + 300), { repositoryId: repoId }, 'released');
        await rs.releaseUpload(id, 'tf', now0 + 10);
        assert.ok(!(await rsB.staleUploads(now0 + 5, 100_000)).includes(id), 'a release records activity');
        const results = await Promise.all([a.transaction((tx) => rs.deleteUpload(tx, id)), b.transaction((tx) => rsB.deleteUpload(tx, id))]);
        assert.deepEqual(results.sort(), [false, true], 'exactly one concurrent commit deletes the session');
      });
    });

    describe('account store', () => {
      it('namespaces, users and admins', async () => {
        const u = uniq('user');
        const id = await a.transaction(async (tx) => {
          assert.equal(await acc.users.claimNamespace(tx, u, 'user', now0), true);
          assert.equal(await acc.users.claimNamespace(tx, u, 'org', now0), false);
          return acc.users.createUser(tx, { username: u, passwordHash: 'h', email: 'e@x', isAdmin: true }, now0);
        });
        assert.equal(typeof id, 'number');
        const row = await accB.users.userByName(u);
        assert.deepEqual(row, {
          id,
          username: u,
          passwordHash: 'h',
          email: 'e@x',
          isAdmin: true,
          robotOrgId: null,
          disabled: false,
          createdAt: now0,
          passwordChangedAt: now0,
        });
        assert.equal(await accB.users.namespaceKind(u), 'user');
        const admins = await accB.users.countAdmins();
        assert.equal(typeof admins, 'number');
        await b.transaction((tx) => accB.users.updateUser(tx, id, { disabled: true }));
        assert.equal(await acc.users.countAdmins(), admins - 1);
        await a.transaction((tx) => acc.users.setPassword(tx, id, 'h2', now0 + 1));
        assert.equal((await acc.users.userById(id))?.passwordChangedAt, now0 + 1);
        assert.ok((await acc.users.listUsers(1000)).some((x) => x.username === u));
        await a.transaction((tx) => acc.users.deleteUser(tx, id));
        assert.equal(await acc.users.userById(id), null);
        assert.equal(await acc.users.namespaceKind(u), null);
      });

      it('organisations, members, teams, collaborators, visibility and visible repositories', async () => {
        const org = uniq('org');
        const [alice, bob] = [uniq('alice'), uniq('bob')];
        const ids = await a.transaction(async (tx) => {
          const al = await acc.users.createUser(tx, { username: alice, passwordHash: 'h' }, now0);
          const bo = await acc.users.createUser(tx, { username: bob, passwordHash: 'h' }, now0);
          await acc.users.claimNamespace(tx, org, 'org', now0);
          const orgId = await acc.orgs.createOrg(tx, org, now0);
          await acc.orgs.setMember(tx, orgId, al, 'owner');
          await acc.orgs.setMember(tx, orgId, bo, 'member');
          await acc.orgs.setMember(tx, orgId, bo, 'owner');
          const teamId = await acc.orgs.createTeam(tx, orgId, 'devs', 'write', now0);
          await acc.orgs.addTeamMember(tx, teamId, bo);
          await acc.orgs.addTeamMember(tx, teamId, bo);
          return { al, bo, orgId, teamId };
        });
        assert.deepEqual(await accB.orgs.orgByName(org), { id: ids.orgId, name: org, createdAt: now0 });
        assert.deepEqual(
          await accB.orgs.members(ids.orgId),
          [
            { username: alice, role: 'owner' },
            { username: bob, role: 'owner' },
          ].sort((x, y) => (x.username < y.username ? -1 : 1)),
        );
        assert.equal(await accB.orgs.orgRole(org, ids.bo), 'owner');
        assert.deepEqual(await accB.orgs.listOrgs(ids.al), [{ name: org, role: 'owner' }]);
        assert.deepEqual(await accB.orgs.teams(ids.orgId), [{ name: 'devs', permission: 'write', members: [bob] }]);
        assert.deepEqual(await accB.orgs.team(ids.orgId, 'devs'), { id: ids.teamId, name: 'devs', permission: 'write' });
        assert.deepEqual(await accB.orgs.teamPermissions(org, ids.bo), ['write']);

        // repositories: private by default; visible to members, collaborators, or everyone when public
        const [r1, r2, r3] = [`${org}/one`, `${org}/two`, `${org}x/three`];
        for (const r of [r1, r2, r3]) await seed(rs, r);
        const repo1 = (await accB.repositories.repository(r1))!;
        assert.equal(repo1.visibility, 'private');
        assert.equal(repo1.namespace, org);
        const stranger = await a.transaction((tx) => acc.users.createUser(tx, { username: uniq('stranger'), passwordHash: 'h' }, now0));
        const mine = async (userId: number | null, prefix?: string) =>
          (await accB.repositories.visibleRepositories({ userId, all: false }, 1000, undefined, prefix)).map((r) => r.name).filter((n) => n.startsWith(org));
        assert.deepEqual(await mine(ids.al), [r1, r2]);
        assert.deepEqual(await mine(stranger), []);
        await a.transaction((tx) => acc.repositories.setVisibility(tx, repo1.id, 'public'));
        await a.transaction((tx) => acc.repositories.setCollaborator(tx, repo1.id, stranger, 'read'));
        await a.transaction((tx) => acc.repositories.setCollaborator(tx, repo1.id, stranger, 'admin'));
        assert.equal(await accB.repositories.collaborator(repo1.id, stranger), 'admin');
        assert.equal((await accB.repositories.collaborators(repo1.id)).length, 1);
        assert.deepEqual(await mine(null), [r1]);
        assert.deepEqual(await mine(stranger), [r1]);
        // a prefix is a literal, case-sensitive prefix ("org/" never matches "orgx/...")
        const all = async (prefix: string) =>
          (await accB.repositories.visibleRepositories({ userId: null, all: true }, 1000, undefined, prefix)).map((r) => r.name);
        assert.deepEqual(await all(`${org}/`), [r1, r2]);
        assert.deepEqual(await all(`${org}x/`), [r3]);
        assert.deepEqual(await all(`${org.toUpperCase()}/`), []);
        assert.deepEqual(await all(`${org}_`), []);
        assert.deepEqual(await all(`${org}%`), []);
        assert.equal(await a.transaction((tx) => acc.repositories.removeCollaborator(tx, repo1.id, stranger)), true);
        assert.equal(await a.transaction((tx) => acc.orgs.removeMember(tx, ids.orgId, ids.bo)), true);
        assert.deepEqual(await accB.orgs.teams(ids.orgId), [{ name: 'devs', permission: 'write', members: [] }]);
        await a.transaction((tx) => acc.orgs.deleteOrg(tx, ids.orgId, org));
        assert.equal(await accB.orgs.orgByName(org), null);
      });

      it('access tokens, refresh tokens and signing keys', async () => {
        const u = uniq('tok');
        const uid = await a.transaction((tx) => acc.users.createUser(tx, { username: u, passwordHash: 'h' }, now0));
        const hash = randomBytes(32).toString('hex');
        const tid = await a.transaction((tx) =>
          acc.credentials.createAccessToken(
            tx,
            { userId: uid, name: 'ci', tokenHash: hash, scopes: ['pull', 'push'], resource: `${u}/*`, expiresAt: now0 + 1000 },
            now0,
          ),
        );
        assert.deepEqual(await accB.credentials.accessTokenByHash(hash), {
          id: tid,
          userId: uid,
          name: 'ci',
          scopes: ['pull', 'push'],
          resource: `${u}/*`,
          expiresAt: now0 + 1000,
          createdAt: now0,
          lastUsedAt: null,
          revokedAt: null,
        });
        await accB.credentials.touchAccessToken(tid, now0 + 3);
        const rh = randomBytes(32).toString('hex');
        await b.transaction((tx) =>
          accB.credentials.createRefreshToken(tx, { tokenHash: rh, userId: uid, accessTokenId: tid, clientId: 'docker', expiresAt: now0 + 99 }, now0),
        );
        assert.deepEqual(await acc.credentials.refreshToken(rh), {
          userId: uid,
          accessTokenId: tid,
          clientId: 'docker',
          createdAt: now0,
          expiresAt: now0 + 99,
          revokedAt: null,
        });
        await a.transaction((tx) => acc.credentials.revokeAccessToken(tx, tid, now0 + 4));
        assert.equal((await acc.credentials.accessToken(tid))?.revokedAt, now0 + 4);
        assert.equal((await acc.credentials.accessToken(tid))?.lastUsedAt, now0 + 3);
        assert.equal((await acc.credentials.refreshToken(rh))?.revokedAt, now0 + 4);
        assert.equal((await acc.credentials.accessTokens(uid)).length, 1);

        const kid = uniq('kid');
        const key = { kid, alg: 'ES256', privatePem: 'pem', publicJwk: '{}', createdAt: now0 };
        await Promise.all([a.transaction((tx) => acc.signingKeys.addSigningKey(tx, key)), b.transaction((tx) => accB.signingKeys.addSigningKey(tx, key))]);
        const keys = (await acc.signingKeys.signingKeys()).filter((k) => k.kid === kid);
        assert.deepEqual(keys, [{ ...key, retiredAt: null }]);
      });

      it('login failures count and reset after the window; the audit log pages by id', async () => {
        const key = uniq('user:x');
        const w = 60_000;
        for (let i = 0; i < 3; i++) await a.transaction((tx) => acc.loginFailures.recordFailure(tx, key, now0 + i, w));
        assert.deepEqual(await accB.loginFailures.failures(key, now0 + 10, w), { count: 3, windowStart: now0 });
        assert.deepEqual(await accB.loginFailures.failures(key, now0 + w, w), { count: 0, windowStart: now0 + w });
        await b.transaction((tx) => accB.loginFailures.recordFailure(tx, key, now0 + w + 1, w));
        assert.deepEqual(await acc.loginFailures.failures(key, now0 + w + 2, w), { count: 1, windowStart: now0 + w + 1 });
        await a.transaction((tx) => acc.loginFailures.clearFailures(tx, key));
        assert.equal((await acc.loginFailures.failures(key, now0, w)).count, 0);

        const actor = uniq('auditor');
        for (let i = 0; i < 3; i++)
          await a.transaction((tx) => acc.audit.record(tx, { actor, action: `act${i}`, detail: { i } }, now0 + i), { durable: false });
        const log = (await accB.audit.list(1000)).filter((e) => e.actor === actor);
        assert.deepEqual(
          log.map((e) => [e.action, e.at, e.detail]),
          [
            ['act2', now0 + 2, { i: 2 }],
            ['act1', now0 + 1, { i: 1 }],
            ['act0', now0, { i: 0 }],
          ],
        );
        assert.equal(typeof log[0].id, 'number');
        assert.deepEqual(
          (await accB.audit.list(1000, log[1].id)).filter((e) => e.actor === actor).map((e) => e.action),
          ['act0'],
        );
      });
    });

    describe('concurrent writers on two instances', () => {
      const N = 40;
      /** N transactions, alternating between the two instances, all started at once. */
      const race = <T>(fn: (store: RegistryStore, i: number) => Promise<T>) => Promise.all(Array.from({ length: N }, (_, i) => fn(i % 2 ? rsB : rs, i)));

      it('the same repository created from both: one row, one id for everyone', async () => {
        const repo = uniq('race/repo');
        const ids = await race((s) => s.meta.transaction((tx) => s.ensureRepository(tx, repo, now0)));
        assert.equal(new Set(ids).size, 1);
        const rows = await a.db.selectFrom('repositories').select('id').where('name', '=', repo).execute();
        assert.equal(rows.length, 1);
        assert.equal(Number(rows[0].id), ids[0]);
      });

      it('the same blob linked from both: one blob row, one link, no errors', async () => {
        const repo = uniq('race/blob');
        const d = digest(uniq('shared'));
        await race((s, i) =>
          s.meta.transaction(async (tx) => {
            const id = await s.ensureRepository(tx, repo, now0);
            await s.deleteUpload(tx, `none-${i}`);
            await s.recordBlob(tx, d, 77, now0 + i);
            await s.linkBlob(tx, id, d, now0 + i);
          }),
        );
        assert.equal((await a.db.selectFrom('blobs').select('digest').where('digest', '=', d).execute()).length, 1);
        assert.equal((await a.db.selectFrom('repository_blobs').select('digest').where('digest', '=', d).execute()).length, 1);
        assert.equal(await rsB.repositoryBlobSize(repo, d), 77);
      });

      it('the same tag pushed from both: one tag row, at an existing manifest, the last in the history', async () => {
        const repo = uniq('race/tag');
        const digests = await race(async (s, i) => {
          const blob = digest(uniq(`layer${i}`));
          const man = digest(uniq(`man${i}`));
          await s.meta.transaction(async (tx) => {
            // what ManifestService.put does: check blobs, insert the manifest and its tags
            const repoId = await s.ensureRepository(tx, repo, now0);
            await s.recordBlob(tx, blob, i, now0);
            await s.linkBlob(tx, repoId, blob, now0);
            assert.deepEqual(await s.missingBlobs(tx, repoId, [blob]), []);
            const id = await s.putManifest(
              tx,
              repoId,
              { digest: man, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10 + i, blobDigests: [blob], childDigests: [] },
              now0 + i,
            );
            await s.setTag(tx, repoId, 'latest', { id, digest: man }, now0 + i);
          });
          return man;
        });
        const repoId = (await rs.repositoryId(repo))!;
        const tags = await a.db.selectFrom('tags').selectAll().where('repository_id', '=', repoId).execute();
        assert.equal(tags.length, 1);
        const current = await rs.manifestByTag(repo, 'latest');
        assert.ok(current && digests.includes(current.digest), 'the tag points at a manifest that exists');
        const history = await a.db
          .selectFrom('tag_history')
          .select('digest')
          .where('repository_id', '=', repoId)
          .where('name', '=', 'latest')
          .orderBy('id')
          .execute();
        assert.equal(history.length, N, 'every move recorded once');
        assert.equal(history.at(-1)?.digest, current.digest, 'the history ends where the tag is (writes were serialised)');
        assert.equal((await a.db.selectFrom('manifests').select('id').where('repository_id', '=', repoId).execute()).length, N);
      });

      it('a tag moved while its manifests are deleted: the tag is gone or at a manifest that exists', async () => {
        const repo = uniq('race/delete');
        const seeded: Awaited<ReturnType<typeof seed>>[] = [];
        for (let i = 0; i < 4; i++) seeded.push(await seed(rs, repo, `t${i}`));
        await race((s, i) => {
          const m = seeded[i % seeded.length];
          return s.meta.transaction(async (tx) => {
            if (i % 4 < 2) await s.deleteManifest(tx, m.repoId, m.man, now0 + i);
            else {
              const id = await s.putManifest(
                tx,
                m.repoId,
                { digest: m.man, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 456, blobDigests: [m.blob], childDigests: [] },
                now0 + i,
              );
              await s.setTag(tx, m.repoId, 'moving', { id, digest: m.man }, now0 + i);
            }
          });
        });
        const repoId = seeded[0].repoId;
        const orphans = await a.db
          .selectFrom('tags as t')
          .leftJoin('manifests as m', 'm.id', 't.manifest_id')
          .select(['t.name'])
          .where('t.repository_id', '=', repoId)
          .where('m.id', 'is', null)
          .execute();
        assert.deepEqual(orphans, []);
        const refOrphans = await a.db
          .selectFrom('manifest_references as r')
          .leftJoin('manifests as m', 'm.id', 'r.manifest_id')
          .select('r.digest')
          .where('m.id', 'is', null)
          .execute();
        assert.deepEqual(refOrphans, []);
      });

      it('login failures counted from both: no lost updates', async () => {
        const key = uniq('addr:race');
        await Promise.all(
          Array.from({ length: N }, (_, i) =>
            (i % 2 ? b : a).transaction((tx) => (i % 2 ? accB : acc).loginFailures.recordFailure(tx, key, now0 + 1, 60_000), { durable: false }),
          ),
        );
        assert.deepEqual(await acc.loginFailures.failures(key, now0 + 2, 60_000), { count: N, windowStart: now0 + 1 });
      });

      it('read-modify-write counters (a read, then an update) lose nothing', async () => {
        // Not an upsert: the pattern of "check, then act" code such as the last-owner rule.
        const key = uniq('rmw');
        await a.transaction((tx) => acc.loginFailures.recordFailure(tx, key, now0, 60_000));
        await Promise.all(
          Array.from({ length: N }, (_, i) =>
            (i % 2 ? b : a).transaction(async (tx) => {
              const row = await tx.selectFrom('login_failures').select('count').where('key', '=', key).executeTakeFirstOrThrow();
              await tx
                .updateTable('login_failures')
                .set({ count: Number(row.count) + 1 })
                .where('key', '=', key)
                .execute();
            }),
          ),
        );
        assert.equal((await acc.loginFailures.failures(key, now0 + 1, 60_000)).count, N + 1);
      });

      it('two owners removing each other at once: the organisation keeps an owner (write skew)', async () => {
        for (let round = 0; round < 5; round++) {
          const org = uniq('skew');
          const { orgId, u1, u2 } = await a.transaction(async (tx) => {
            const u1 = await acc.users.createUser(tx, { username: uniq('o1'), passwordHash: 'h' }, now0);
            const u2 = await acc.users.createUser(tx, { username: uniq('o2'), passwordHash: 'h' }, now0);
            await acc.users.claimNamespace(tx, org, 'org', now0);
            const orgId = await acc.orgs.createOrg(tx, org, now0);
            await acc.orgs.setMember(tx, orgId, u1, 'owner');
            await acc.orgs.setMember(tx, orgId, u2, 'owner');
            return { orgId, u1, u2 };
          });
          const demote = ([s, meta]: [AccountStores, MetadataDb], userId: number) =>
            meta.transaction(async (tx) => {
              // the rule in api/org-routes.ts
              if ((await s.orgs.ownerCount(orgId, tx)) <= 1) return false;
              await s.orgs.setMember(tx, orgId, userId, 'member');
              return true;
            });
          const results = await Promise.all([demote([acc, a], u1), demote([accB, b], u2)]);
          assert.equal(await acc.orgs.ownerCount(orgId), 1, `round ${round}: ${JSON.stringify(results)}`);
          assert.deepEqual(results.sort(), [false, true]);
        }
      });

      it('names claimed from both at once: one winner', async () => {
        const name = uniq('claim');
        const wins = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            (i % 2 ? b : a).transaction((tx) => (i % 2 ? accB : acc).users.claimNamespace(tx, name, i % 3 ? 'user' : 'org', now0)),
          ),
        );
        assert.equal(wins.filter(Boolean).length, 1);
      });

      it('a manifest PUT racing a DELETE of its blob: exactly one wins, never a manifest without its blob', async () => {
        // The services themselves (what /v2 runs), one pair per instance, over one storage directory.
        const dir = mkdtempSync(path.join(tmpdir(), 'berth-race-'));
        const storage = new FilesystemDriver(dir, { directio: false });
        const replica = (s: RegistryStore) => {
          const guard = new BlobGuard(new GcStore(s.meta), 0, Date.now);
          return { store: s, blobs: new BlobService(storage, s, guard), manifests: new ManifestService(storage, s, new ManifestCache(1 << 20), guard) };
        };
        const [r1, r2] = [replica(rs), replica(rsB)];
        const ROUNDS = 60;
        const wins = { put: 0, delete: 0 };
        const retried = backend.retries?.() ?? 0;
        try {
          for (let round = 0; round < ROUNDS; round++) {
            const repo = uniq('race/blobdel');
            const [config, layer] = [digest(uniq('config')), digest(uniq('layer'))];
            await a.transaction(async (tx) => {
              const repoId = await rs.ensureRepository(tx, repo, now0);
              for (const d of [config, layer]) {
                await rs.recordBlob(tx, d, 10, now0);
                await rs.linkBlob(tx, repoId, d, now0);
              }
            });
            const manifest = Buffer.from(
              JSON.stringify({
                schemaVersion: 2,
                mediaType: 'application/vnd.oci.image.manifest.v1+json',
                config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 10 },
                layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 10 }],
              }),
            );
            // Bytes stored already (a push that was retried), so the push's only I/O before its transaction is one stat.
            await storage.put(blobKey(parseDigest(digest(manifest))), manifest);
            // Alternate which replica pushes and which request starts first.
            const [pusher, deleter] = round % 2 ? [r1, r2] : [r2, r1];
            const push = () =>
              pusher.manifests.put(repo, { tag: 'latest' }, 'application/vnd.oci.image.manifest.v1+json', manifest).then(
                () => 'ok' as const,
                (err: unknown) => err,
              );
            // The push runs a short transaction (the garbage collector's writer protection) before its
            // main one; the delete first waits for 0 to 3 stat calls and, in rounds 4 to 7 of every 8, for
            // 0, 8, 16 or 24 empty transactions, so the two main transactions meet in every order.
            const del = async () => {
              for (let i = 0; i < round % 4; i++) await storage.stat('blobs/none');
              for (let i = 0; i < (round % 8 >= 4 ? 8 * (round % 4) : 0); i++) await deleter.store.meta.transaction(async () => {}, { durable: false });
              return deleter.blobs.delete(repo, parseDigest(layer)).then(
                () => 'ok' as const,
                (err: unknown) => err,
              );
            };
            const [pushed, deleted] = round % 4 < 2 ? await Promise.all([push(), del()]) : (await Promise.all([del(), push()])).reverse();
            const where = `round ${round}: push ${pushed === 'ok' ? 'ok' : String(pushed)}, delete ${deleted === 'ok' ? 'ok' : String(deleted)}`;
            if (pushed === 'ok') {
              // The acknowledged manifest is served and every blob it references is still readable.
              assert.ok(deleted instanceof RegistryError && deleted.code === 'DENIED' && deleted.status === 409, where);
              assert.equal((await rs.manifestByTag(repo, 'latest'))?.size, manifest.length, where);
              assert.equal(await rsB.repositoryBlobSize(repo, layer), 10, where);
              wins.put++;
            } else {
              assert.equal(deleted, 'ok', where);
              assert.ok(pushed instanceof RegistryError && pushed.code === 'MANIFEST_BLOB_UNKNOWN', where);
              assert.equal(await rs.manifestByTag(repo, 'latest'), null, where);
              assert.equal(await rsB.repositoryBlobSize(repo, layer), null, where);
              wins.delete++;
            }
            assert.equal(await rs.repositoryBlobSize(repo, config), 10, `${where}: the config stays`);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
        const retries = backend.retries ? `, ${backend.retries() - retried} transactions retried` : '';
        console.log(`# ${backend.name}: blob delete vs manifest push, ${ROUNDS} rounds: push won ${wins.put}, delete won ${wins.delete}${retries}`);
        assert.ok(wins.put > 0 && wins.delete > 0, `both orders happened: ${JSON.stringify(wins)}`);
      });

      after(() => {
        if (backend.retries) console.log(`# ${backend.name}: ${backend.retries()} transactions retried after serialization failures`);
      });
    });
  });
}
