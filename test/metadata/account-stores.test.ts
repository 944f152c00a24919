// The account SQL is split by concern (issue 10, item 18): every operation of the former
// 58-method AccountStore lives in exactly one small store, each file under
// src/metadata/accounts/ holds one store, and accountStores() builds each of them once.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { openSqlite } from '../../src/metadata/database.js';
import { accountStores } from '../../src/metadata/accounts/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/metadata/accounts');
const MAX_METHODS = 20;

/** The former AccountStore's methods; `audit`/`auditLog` became AuditLog's `record`/`list`. */
const FORMER = (
  'namespaceKind claimNamespace createUser userByName userById listUsers countAdmins updateUser setPassword deleteUser createOrg orgByName orgById ' +
  'listOrgs deleteOrg setMember removeMember members orgRole createTeam team teams updateTeam deleteTeam addTeamMember removeTeamMember teamPermissions ' +
  'repository setVisibility collaborator setCollaborator removeCollaborator collaborators visibleRepositories createAccessToken accessTokenByHash ' +
  'accessToken accessTokens touchAccessToken revokeAccessToken revokeUserTokens createRefreshToken refreshToken signingKeys setSigningKeyPrivate ' +
  'addSigningKey retireSigningKeys dropSigningKeysRetiredBefore failures recordFailure forgiveFailure clearFailures record list ' +
  'namespaceHasRepositories soleOwnerOf ownerCount robots'
).split(' ');

function methodsOf(o: object): string[] {
  return Object.getOwnPropertyNames(Object.getPrototypeOf(o)).filter((n) => n !== 'constructor');
}

describe('account stores', () => {
  it('each file holds one store class of at most 20 methods, and accountStores() builds every one of them', async () => {
    const files = readdirSync(dir).filter((f) => f !== 'index.ts');
    const meta = await openSqlite(':memory:');
    try {
      const stores = Object.values(accountStores(meta));
      assert.equal(stores.length, files.length, 'one store per file');
      for (const f of files) {
        const classes = [...readFileSync(path.join(dir, f), 'utf8').matchAll(/^export class (\w+)/gm)].map((m) => m[1]);
        assert.equal(classes.length, 1, `${f}: ${classes}`);
        const store = stores.find((s) => s.constructor.name === classes[0]);
        assert.ok(store, `${classes[0]} is in the bundle`);
        assert.ok(methodsOf(store).length <= MAX_METHODS, `${classes[0]} has ${methodsOf(store).length} methods`);
      }
    } finally {
      await meta.close();
    }
  });

  it('every operation of the former AccountStore is in exactly one store, and no two stores share a method name', async () => {
    const meta = await openSqlite(':memory:');
    try {
      const all = Object.values(accountStores(meta)).flatMap(methodsOf);
      assert.deepEqual(
        FORMER.filter((m) => !all.includes(m)),
        [],
        'nothing lost',
      );
      assert.deepEqual(
        all.filter((m, i) => all.indexOf(m) !== i),
        [],
        'no duplicates',
      );
    } finally {
      await meta.close();
    }
  });
});
